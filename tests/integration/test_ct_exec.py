"""create, start, exec: the command runs inside, and its I/O and exit status come back."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def ct(hutch_root) -> str:
    """One running container for the read-only checks of this module."""
    return hutch_root.running(hostname="ct-exec.example")


def test_hostname_is_the_one_given(hutch, ct):
    assert hutch.ok("exec", ct, "hostname").stdout == "ct-exec.example\n"
    # the kernel's UTS namespace says so too, not only a file
    assert hutch.ok("exec", ct, "cat", "/proc/sys/kernel/hostname").stdout == "ct-exec.example\n"
    assert os.uname().nodename != "ct-exec.example"


def test_default_hostname_is_the_id(hutch):
    ctid = hutch.running(ctid="web-1")
    assert hutch.ok("exec", ctid, "hostname").stdout == "web-1\n"


def test_ps_sees_only_the_container(hutch, ct):
    out = hutch.ok("exec", ct, "ps").stdout
    rows = [line.split(None, 2) for line in out.splitlines()[1:]]
    by_pid = {int(r[0]): r[2] for r in rows}
    assert by_pid[1].split()[0].endswith("init"), out
    # our own process (and hutchd) are not in there
    assert "pytest" not in out and "hutch.daemon" not in out and "hutchd" not in out, out
    with open(f"/proc/{os.getpid()}/cmdline") as f:
        mine = " ".join(f.read().split("\0")).strip()
    assert mine not in out
    assert len(rows) < 10, out


def test_exec_runs_in_the_init_pid_namespace(hutch, ct):
    # the command's /proc is the container's: its own pid is there, the host's hundreds not
    out = hutch.ok("exec", ct, "sh -c 'cat /proc/1/comm; ls -d /proc/[0-9]* | wc -l'").stdout
    init, count = out.split()
    host_count = sum(1 for p in os.listdir("/proc") if p.isdigit())
    assert init == "init"
    assert int(count) < 20 < host_count


@pytest.mark.parametrize(
    ("command", "status"),
    [
        ("true", 0),
        ("false", 1),
        ("exit 7", 7),
        ("kill -9 $$", 128 + 9),
        ("kill -TERM $$", 128 + 15),
    ],
)
def test_exit_status_propagates(hutch, ct, command, status):
    p = hutch.run("exec", ct, "--", "/bin/sh", "-c", command)
    assert p.returncode == status, p.stderr


def test_shell_syntax_in_one_argument_runs_under_sh(hutch, ct):
    p = hutch.run("exec", ct, "echo a | tr a b; exit 3")
    assert (p.returncode, p.stdout) == (3, "b\n")


def test_unknown_command_is_127(hutch, ct):
    p = hutch.run("exec", ct, "no-such-command")
    assert p.returncode == 127
    assert "no-such-command" in p.stderr


def test_stdin_passes_through(hutch, ct):
    assert hutch.ok("exec", ct, "cat", input="hi\n").stdout == "hi\n"
    big = "".join(f"line {i}\n" for i in range(20000))  # more than a pipe buffer
    assert hutch.ok("exec", ct, "wc", "-l", input=big).stdout.strip() == "20000"


def test_stdout_and_stderr_stay_separate(hutch, ct):
    p = hutch.ok("exec", ct, "echo out; echo err >&2")
    assert p.stdout == "out\n"
    assert p.stderr == "err\n"


def test_environment_and_cwd(hutch, ct):
    out = hutch.ok(
        "exec",
        ct,
        "-e",
        "FOO=bar baz",
        "--cwd",
        "/etc",
        "--",
        "sh",
        "-c",
        'echo "$FOO|$PWD|$container"',
    ).stdout
    assert out == "bar baz|/etc|hutch\n"
    # the host's environment does not leak in
    env = hutch.ok("exec", ct, "env").stdout
    assert "PYTEST_CURRENT_TEST" not in env


def test_exec_without_tty_has_no_terminal(hutch, ct):
    p = hutch.run("exec", ct, "tty")
    assert p.returncode == 1 and p.stdout.strip() == "not a tty"


def test_exec_joins_the_container_cgroup(hutch, ct):
    out = hutch.ok("exec", ct, "cat", "/proc/self/cgroup").stdout
    # in the container's cgroup namespace its own group is the root
    assert all(line.endswith(":/") for line in out.splitlines()), out
    # processes sit in the inner group ("ct"), never beside the limits one level up
    host_view = [d for d in hutch.cgroup_dirs(ct) if (d / "ct/cgroup.procs").read_text().split()]
    assert host_view, "the container's cgroups hold no process"
    assert all(not (d / "cgroup.procs").read_text().split() for d in hutch.cgroup_dirs(ct))
