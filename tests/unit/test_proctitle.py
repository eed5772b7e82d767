"""proctitle.blank: what /proc/PID/cmdline and environ show of a process after it."""

from __future__ import annotations

import os

from hutch.linux import proctitle


def test_blank_hides_the_command_line_and_environment():
    r, w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        os.close(hold_w)
        proctitle.blank()
        os.write(w, b"x")
        os.read(hold_r, 1)  # until the parent has looked
        os._exit(0)
    os.close(w)
    os.close(hold_r)
    try:
        assert os.read(r, 1) == b"x"
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read()
        assert cmdline.strip(b"\0") == b"", cmdline[:200]
        assert environ.strip(b"\0") == b"", environ[:200]
    finally:
        os.close(r)
        os.close(hold_w)
        os.waitpid(pid, 0)
    # this process is untouched
    with open("/proc/self/cmdline", "rb") as f:
        assert f.read().strip(b"\0")
