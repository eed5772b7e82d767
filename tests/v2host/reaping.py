"""Kill a container's init and reap it, without the deadlock a subreaper can fall into."""

from __future__ import annotations

import contextlib
import os
import signal
import time


def kill_and_reap(pid: int, timeout: float = 30.0) -> None:
    """SIGKILL the init and wait until it is reaped. Not a blocking waitpid(pid): the kernel
    lets a dying init go only once every process of its PID namespace is reaped, and one
    whose parent outside exited (an exec's command, orphaned) was handed to us, the
    subreaper. So reap every child of ours until the init is among them."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            child, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no child left, the init included
        if child == pid:
            return
        if child == 0:
            time.sleep(0.01)
    raise AssertionError(f"the container's init {pid} was not reaped within {timeout} s")
