"""The operator's terminal: nothing a container does reaches the shell `hutch` was typed in.

Every test here is what an operator meets: an interactive bash on a pty this test owns (its
controlling terminal, with job control), the `hutch exec` or `hutch enter` command line typed
into it. Inside, the escape probe tries to push a command line into every terminal it can
find (TIOCSTI on /dev/tty, on its stdio, on every /proc/*/fd it can open), to take the
terminal (TIOCSCTTY, tcsetpgrp) and to read what the operator types next. Then the test types
a line of its own and checks that the shell ran it, and ran nothing else: the pushed line
computes `PWNED-42-MARK` only if a shell executes it (its echo shows `$((6*7))`). A line
pushed into the operator's terminal would sit in its input queue ahead of what the test
types, so once the test's own line has run, the verdict needs no waiting.

Issue 12 item 1 (the hole: `hutch exec 9 /sti </dev/null >/dev/null 2>&1` made the host's root
shell run a line). Both container modes, as the escape suite (`MODES`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import secrets
import select
import shlex
import shutil
import subprocess
import termios
import time

import pytest
from test_sec_escape import MODES, create_in_mode

pytestmark = pytest.mark.root

PROMPT = b"host-shell$ "
BASH = shutil.which("bash")

# how each way in is typed: (the hutch words before the probe's, redirections after it)
WAYS = {
    "exec": (["exec", "{ct}"], ""),
    "exec, stdio away": (["exec", "{ct}"], " </dev/null >/dev/null 2>&1"),
    "exec -t": (["exec", "-t", "{ct}"], ""),
}


@pytest.fixture(scope="module", params=list(MODES))
def mode(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def target(hutch_root, mode, probe_binary) -> str:
    ctid = create_in_mode(hutch_root, mode)
    dest = hutch_root.rootfs(ctid) / "probe"
    shutil.copyfile(probe_binary, dest)
    dest.chmod(0o755)
    owner = hutch_root.rootfs(ctid).stat()
    os.chown(dest, owner.st_uid, owner.st_gid)
    hutch_root.start(ctid)
    yield ctid
    hutch_root.remove_containers([ctid])


class Shell:
    """An interactive bash whose controlling terminal is a pty the test holds the master of."""

    def __init__(self) -> None:
        if BASH is None:
            pytest.skip("bash is absent")
        self.master, slave = os.openpty()
        env = dict(os.environ, PS1=PROMPT.decode(), TERM="dumb")
        env.pop("HUTCH_ROOT", None)
        try:
            self.proc = subprocess.Popen(
                [BASH, "--norc", "--noprofile", "--noediting", "-i"],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                # the pty becomes the session's controlling terminal, as a login's is
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
                env=env,
            )
        finally:
            os.close(slave)
        self.output = b""
        self.pos = 0
        self.expect(PROMPT)

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def expect(self, needle: bytes, timeout: float = 20.0) -> None:
        """Read until `needle` shows after what the last expect matched."""
        deadline = time.monotonic() + timeout
        while (found := self.output.find(needle, self.pos)) < 0:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"{needle!r} not seen in {timeout}s; the terminal shows:\n{self.text}")
            if select.select([self.master], [], [], left)[0]:
                try:
                    data = os.read(self.master, 65536)
                except OSError as e:
                    if e.errno != errno.EIO:
                        raise
                    data = b""
                if not data:
                    pytest.fail(f"the shell ended; the terminal shows:\n{self.text}")
                self.output += data
        self.pos = found + len(needle)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self.master)


@pytest.fixture
def shell():
    s = Shell()
    yield s
    s.close()


def hutch_line(hutch, words: list[str], ct: str) -> str:
    return shlex.join(hutch.argv(*(w.format(ct=ct) for w in words)))


def assert_shell_ran_only_its_own(shell: Shell, mark: str) -> None:
    """Type a line after hutch returned: the shell runs it, and it ran no pushed line."""
    shell.type(f"echo AFTER-{mark}-$((2+3))")
    shell.expect(f"AFTER-{mark}-5".encode())
    assert f"PWNED-42-{mark}".encode() not in shell.output, (
        f"the host shell ran a line the container pushed:\n{shell.text}"
    )


def sti_payload(mark: str) -> str:
    return f"echo PWNED-$((6*7))-{mark}"


@pytest.mark.parametrize("way", list(WAYS))
def test_sti_does_not_reach_the_host_shell(hutch_root, target, shell, way):
    mark = secrets.token_hex(4)
    words, redirect = WAYS[way]
    line = hutch_line(hutch_root, [*words, "/probe", "sti"], target)
    shell.type(f"{line} {shlex.quote(sti_payload(mark))}{redirect}; echo END-{mark}-$((1+1))")
    shell.expect(f"END-{mark}-2".encode())
    assert_shell_ran_only_its_own(shell, mark)
    if not redirect:
        assert "refused: TIOCSTI" in shell.text and "ESCAPED" not in shell.text, shell.text


def test_sti_from_enter_does_not_reach_the_host_shell(hutch_root, target, shell):
    mark = secrets.token_hex(4)
    shell.type(hutch_line(hutch_root, ["enter", "{ct}"], target))
    shell.expect(b"# ")  # the container's shell
    shell.type(f"/probe sti {shlex.quote(sti_payload(mark))}; exit")
    shell.expect(b"refused: TIOCSTI")
    shell.expect(PROMPT)
    assert_shell_ran_only_its_own(shell, mark)
    assert "ESCAPED" not in shell.text, shell.text


STEAL_WAYS = {
    "exec": ["exec", "{ct}"],
    "exec -t": ["exec", "-t", "{ct}"],
}


@pytest.mark.parametrize("way", list(STEAL_WAYS))
def test_the_terminal_cannot_be_taken_or_read_after(hutch_root, target, shell, way):
    """The probe tries TIOCSCTTY and tcsetpgrp on every host terminal it finds, and leaves a
    child behind that reads stdin and /dev/tty after `hutch` returned: what the operator
    types next goes to the host shell, and the child read nothing of it."""
    mark = secrets.token_hex(4)
    loot = f"/tmp/stolen-{mark}"
    line = hutch_line(hutch_root, [*STEAL_WAYS[way], "/probe", "tty_steal", loot, "6"], target)
    shell.type(f"{line}; echo END-{mark}-$((1+1))")
    shell.expect(f"END-{mark}-2".encode())
    assert "refused: no host terminal" in shell.text and "ESCAPED" not in shell.text, shell.text
    # the shell still has its terminal: it runs the next line, in the foreground
    shell.type(f"echo AFTER-{mark}-$((2+3))")
    shell.expect(f"AFTER-{mark}-5".encode())
    path = hutch_root.rootfs(target) / loot.lstrip("/")
    hutch_root.wait_until(
        lambda: path.is_file() and "done" in path.read_text(), 15, "the reader left behind"
    )
    got = path.read_text()
    print(f"{way}: the reader left behind says: {got!r}")
    assert "AFTER" not in got and mark not in got, got
    assert "WORKED" not in got, got
    assert "/dev/tty: ENXIO" in got or way == "exec -t", got


def test_enter_leaves_no_reader_of_the_terminal(hutch_root, target, shell):
    mark = secrets.token_hex(4)
    loot = f"/tmp/stolen-{mark}"
    shell.type(hutch_line(hutch_root, ["enter", "{ct}"], target))
    shell.expect(b"# ")
    shell.type(f"/probe tty_steal {loot} 6; exit")
    shell.expect(b"reader ")
    shell.expect(PROMPT)
    shell.type(f"echo AFTER-{mark}-$((2+3))")
    shell.expect(f"AFTER-{mark}-5".encode())
    path = hutch_root.rootfs(target) / loot.lstrip("/")
    hutch_root.wait_until(
        lambda: path.is_file() and "done" in path.read_text(), 15, "the reader left behind"
    )
    got = path.read_text()
    assert "AFTER" not in got and mark not in got and "WORKED" not in got, got
    assert "ESCAPED" not in shell.text, shell.text


def test_ctrl_c_ends_the_command(hutch_root, target, shell):
    """^C typed while `hutch exec` (no -t) runs ends the command: the terminal's signal goes
    to the CLI's process group, which passes it on once (the command has its own session)."""
    mark = secrets.token_hex(4)
    line = hutch_line(hutch_root, ["exec", "{ct}"], target)
    shell.type(f"{line} 'echo started; sleep 61; echo SLEPT-$((1+1))'; echo CODE-{mark}-$?")
    shell.expect(b"started")
    time.sleep(0.3)  # the sleep runs (no timing asserted: only the outcome)
    os.write(shell.master, b"\x03")
    shell.expect(f"CODE-{mark}-130".encode())
    assert b"SLEPT-2" not in shell.output
    # the command's whole group got it: no sleep is left in the container
    assert "sleep 61" not in hutch_root.ok("exec", target, "ps").stdout
    assert_shell_ran_only_its_own(shell, mark)
