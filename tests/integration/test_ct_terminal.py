"""Terminals: the console (log, attach, detach), `exec -t` and `enter`, each through a pty."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def ct(hutch_root) -> str:
    return hutch_root.running(hostname="tty.example")


def test_console_log_receives_init_output(hutch, ct):
    log = hutch.paths.ct_console_log(ct)
    # busybox init's askfirst prompt is its own output on /dev/console
    hutch.wait_until(
        lambda: b"Please press Enter" in log.read_bytes(), 5, "init's prompt in console.log"
    )
    hutch.ok("exec", ct, "echo LOGGED-$((6*7)) > /dev/console")
    hutch.wait_until(lambda: b"LOGGED-42" in log.read_bytes(), 5, "the marker in console.log")


def test_console_attach_type_and_detach(hutch, ct, pty_run):
    pid = hutch.init_pid(ct)
    run = pty_run(hutch.argv("console", ct))
    run.expect(b"type Ctrl-a q to detach")
    run.write(b"\n")  # askfirst: "Please press Enter to activate this console."
    run.expect(b"# ", timeout=5)
    run.write(b"echo MARK$((6*7))\n")
    run.expect(b"MARK42")
    run.write(b"\x01q")
    assert run.wait() == 0
    assert b"Detached from the console" in run.output
    assert hutch.init_pid(ct) == pid
    assert hutch.status(ct) == "running"
    # what was typed and printed on the console is in its log too
    assert b"MARK42" in hutch.paths.ct_console_log(ct).read_bytes()


def test_console_ctrl_a_ctrl_a_sends_one_ctrl_a(hutch, ct, pty_run):
    run = pty_run(hutch.argv("console", ct))
    run.expect(b"type Ctrl-a q to detach")
    run.write(b"\n")
    run.expect(b"# ", timeout=5)
    # the shell sees one Ctrl-a (octal 001) between the two letters
    run.write(b'read x; echo "$x" | od -c | head -1\n')
    run.write(b"a\x01\x01b\n")
    run.expect(b"a 001   b")
    run.write(b"\x01q")
    assert run.wait() == 0


def test_console_of_a_stopped_container_is_refused(hutch):
    ctid = hutch.create()
    assert "not running" in hutch.fails("console", ctid, code=6)


def test_exec_t_gets_a_pty_of_the_container_devpts(hutch, ct, pty_run):
    run = pty_run(hutch.argv("exec", "-t", ct, "tty"))
    assert run.wait() == 0
    assert b"/dev/pts/0" in run.output, run.output
    # the options may follow the ID too, as `hutch exec ID -t -- CMD`
    run = pty_run(hutch.argv("exec", ct, "-t", "--", "sh", "-c", "tty; stat -c %d $(tty) /dev/pts"))
    assert run.wait() == 0
    tty, its_dev, devpts_dev = run.output.decode().split()
    # that pts lives on the container's devpts (its /dev/pts), not on the host's
    assert tty == "/dev/pts/0"
    assert its_dev == devpts_dev != str(os.stat("/dev/pts").st_dev)


def test_exec_t_exit_status_and_stdin(hutch, ct, pty_run):
    run = pty_run(
        hutch.argv("exec", "-t", ct, "sh", "-c", "echo ready; read x; echo got-$x; exit 5")
    )
    run.expect(b"ready")
    run.write(b"abc\n")
    assert run.wait() == 5
    assert b"got-abc" in run.output


def test_enter_runs_a_login_shell(hutch, ct, pty_run):
    run = pty_run(hutch.argv("enter", ct))
    run.expect(b"# ")  # the shell's prompt
    run.write(b"hostname; echo CWD=$(pwd); exit\n")
    assert run.wait() == 0
    out = run.output.decode(errors="replace")
    assert "tty.example" in out.replace("hostname; echo", "")
    assert "CWD=/root" in out


def test_exec_t_of_a_missing_command_ends_at_once(hutch, ct, pty_run):
    # the command never opens its terminal: hutch must notice the joiner's exit, not wait
    # for the pty to close
    run = pty_run(hutch.argv("exec", "-t", ct, "/no/such/program"))
    assert run.wait() == 127
    assert b"command not found" in run.output


def test_exec_t_does_not_wait_for_background_children(hutch, ct, pty_run):
    run = pty_run(hutch.argv("exec", "-t", ct, "sh", "-c", "sleep 30 & echo started"))
    run.expect(b"started")
    assert run.wait() == 0


def test_exec_t_opens_the_pty_master_without_trusting_dev(hutch, pty_run):
    """The container owns its /dev: the pty master comes from its devpts (pts/ptmx), never
    through what /dev/ptmx was made into, and a /dev/ptmx that is not the pty multiplexer
    (char 5:2) is refused with a message, not opened for use (issue 12 item 8)."""
    ctid = hutch.running()
    # /dev/ptmx made a FIFO: /dev/pts/ptmx is still the way, exec -t works
    hutch.ok("exec", ctid, "rm /dev/ptmx && mkfifo /dev/ptmx")
    run = pty_run(hutch.argv("exec", "-t", ctid, "tty"))
    assert run.wait() == 0
    assert b"/dev/pts/0" in run.output, run.output
    # no devpts at /dev/pts any more (a tmpfs over it): /dev/ptmx is all there is
    hutch.ok("exec", ctid, "mount -t tmpfs none /dev/pts")
    for planted in ("mkfifo /dev/ptmx", "ln -s null /dev/ptmx"):
        hutch.ok("exec", ctid, f"rm -f /dev/ptmx && {planted}")
        run = pty_run(hutch.argv("exec", "-t", ctid, "tty"))
        assert run.wait() == 126, run.output
        assert b"not the pty multiplexer (char 5:2)" in run.output, run.output
    # ... and a missing one says so
    hutch.ok("exec", ctid, "rm -f /dev/ptmx")
    run = pty_run(hutch.argv("exec", "-t", ctid, "tty"))
    assert run.wait() == 126, run.output
    assert b"no pty master in the container" in run.output, run.output


def test_exec_t_has_a_session_of_its_own(hutch, ct, pty_run):
    # the command leads its session, whose terminal is its own pty (not the CLI's)
    run = pty_run(
        hutch.argv("exec", "-t", ct, "sh", "-c", "echo $$ $(cut -d' ' -f6 /proc/$$/stat)")
    )
    assert run.wait() == 0
    pid, sid = run.output.decode().split()[-2:]
    assert pid == sid, run.output
