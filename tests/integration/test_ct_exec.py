"""create, start, exec: the command runs inside, and its I/O and exit status come back."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess

import pytest

TRACEBACK = "Traceback (most recent call last)"

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


# -- the exec terminal model (issue 12 items 1, 8) ------------------------------------------


def _exec_with_stdin(hutch, ct: str, stdin, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`hutch exec` with a file (or fd) of the caller as its stdin, bytes out."""
    env = {k: v for k, v in os.environ.items() if k != "HUTCH_ROOT"}
    return subprocess.run(
        hutch.argv("exec", ct, *args), stdin=stdin, capture_output=True, timeout=30, env=env
    )


def test_stdio_of_the_command_are_pipes_whatever_the_cli_has(hutch, ct, tmp_path):
    """The command never gets the CLI's own fds: here a regular file of the host as stdin."""
    src = tmp_path / "in.txt"
    src.write_text("from a host file\n")
    with src.open("rb") as f:
        p = _exec_with_stdin(
            hutch, ct, f, "sh", "-c", "for n in 0 1 2; do readlink /proc/self/fd/$n; done"
        )
    links = p.stdout.decode().split()
    assert p.returncode == 0 and len(links) == 3, p
    assert all(link.startswith("pipe:") for link in links), links
    assert str(tmp_path) not in p.stdout.decode()


def test_no_controlling_terminal_inside(hutch, ct):
    # its own session, no controlling terminal: /dev/tty has nothing to open (ENXIO)
    p = hutch.run("exec", ct, "sh", "-c", ": </dev/tty")
    assert p.returncode != 0
    assert "No such device or address" in p.stderr, p.stderr
    # the command leads a session of its own
    out = hutch.ok("exec", ct, "sh", "-c", "echo $$; cut -d' ' -f6 /proc/$$/stat").stdout.split()
    assert out[0] == out[1], out


def test_binary_file_as_stdin_and_large_output(hutch, ct, tmp_path):
    data = os.urandom(3 << 20) + b"\0\r\n\x04\x03" * 100
    src = tmp_path / "blob"
    src.write_bytes(data)
    with src.open("rb") as f:
        p = _exec_with_stdin(hutch, ct, f, "cat")
    assert p.returncode == 0 and p.stdout == data
    # stderr apart, large too, and the status of the end
    p = _exec_with_stdin(
        hutch, ct, subprocess.DEVNULL, "sh", "-c", "head -c 2000000 /dev/zero >&2; exit 3"
    )
    assert (p.returncode, p.stdout, p.stderr) == (3, b"", b"\0" * 2000000)


def test_closed_stdout_of_the_cli_does_not_hang(hutch, ct):
    line = " ".join(shlex.quote(a) for a in hutch.argv("exec", ct, "yes"))
    env = {k: v for k, v in os.environ.items() if k != "HUTCH_ROOT"}
    p = subprocess.run(
        ["sh", "-c", f"{line} | head -1; echo status=$?"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert p.stdout == "y\nstatus=0\n", p
    assert TRACEBACK not in p.stderr


def test_background_children_do_not_hold_the_cli(hutch, ct):
    # the CLI ends with the command (not when every copy of its stdout is closed)
    p = hutch.ok("exec", ct, "sleep 300 & echo started")
    assert p.stdout == "started\n"


def test_signal_to_the_cli_reaches_the_command(hutch, ct):
    cli = subprocess.Popen(
        hutch.argv(
            "exec", ct, "sh", "-c", "trap 'echo got-TERM; exit 9' TERM; echo up; sleep 100 & wait"
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert cli.stdout.readline() == b"up\n"
        cli.send_signal(signal.SIGTERM)
        out, err = cli.communicate(timeout=20)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait(5)
    assert (cli.returncode, out) == (9, b"got-TERM\n"), err


@pytest.mark.parametrize("cwd", ["/no/such/dir", "/etc/passwd"])
def test_a_bad_cwd_is_refused_not_replaced_by_root(hutch, ct, cwd):
    p = hutch.run("exec", ct, "--cwd", cwd, "pwd")
    assert p.returncode == 126 and p.stdout == "", p
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"hutch: --cwd {cwd}: "), p.stderr


@pytest.mark.parametrize("n", range(0, 12))
def test_cwd_through_a_leaked_fd_is_refused(hutch, ct, n):
    """runc CVE-2024-21626: `--cwd /proc/self/fd/N` naming a directory fd the entering
    process still holds would start the command outside the root. No such fd is left, no
    magic link is followed, and getcwd() is checked after the change."""
    p = hutch.run("exec", ct, "--cwd", f"/proc/self/fd/{n}", "pwd")
    assert p.returncode == 126 and p.stdout == "", p
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"hutch: --cwd /proc/self/fd/{n}: "), p.stderr
    # the magic link of a directory that exists inside is refused too, not followed
    p = hutch.run("exec", ct, "--cwd", "/proc/1/cwd", "pwd")
    assert p.returncode == 126 and "magic link" in p.stderr, p


@pytest.mark.parametrize("closed", ["<&-", ">&-", "2>&-", "<&- >&- 2>&-"])
def test_a_cli_started_with_closed_stdio_still_works(hutch, ct, closed):
    """Closed fds of the CLI are not reused for its pipes or pidfds (the joiner's dup2 onto
    0, 1, 2 would clobber them): the command runs and its status comes back."""
    line = " ".join(shlex.quote(a) for a in hutch.argv("exec", ct, "echo out; cat; exit 4"))
    env = {k: v for k, v in os.environ.items() if k != "HUTCH_ROOT"}
    p = subprocess.run(
        ["sh", "-c", f"{line} {closed}; echo status=$?"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert p.stdout.endswith("status=4\n"), p
    assert TRACEBACK not in p.stderr and "cannot enter" not in p.stderr, p.stderr
