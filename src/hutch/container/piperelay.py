"""Relay the CLI's stdin, stdout and stderr to an exec'd command through pipes (exec without -t).

The command never gets the CLI's own file descriptors: they may be the operator's terminal,
which a process of the container could then push input into (TIOCSTI), take the foreground
of or read. It gets three pipes instead, and this loop copies bytes between them and the
CLI's fds until the joiner (which waits for the command) exits:

* stdin: copied as read; its end (EOF) closes the pipe, so `hutch exec ID cat < file` ends;
  a command that closes its stdin stops the copying (the CLI then reads no more of the
  terminal). A CLI in the background of its terminal does not read it at all (the command
  sees EOF) instead of being stopped by SIGTTIN.
* stdout, stderr: kept apart, bytes as they are. A closed stdout of the CLI (`| head -1`)
  closes the command's pipe, so the command gets SIGPIPE as it would have directly.
* the end: when the joiner exits, whatever the command wrote is already in the pipes (a pipe
  write is done when it returns); that is drained, and background children that keep the
  pipes open do not hold the CLI (as with `exec -t`).

The CLI's own fds keep their flags (O_NONBLOCK on a shared terminal would break the shell),
so only the pipe ends are non-blocking.
"""

from __future__ import annotations

import errno
import os
import select

CHUNK = 65536
_ERR = select.POLLERR | select.POLLHUP | select.POLLNVAL


def _background_tty(fd: int) -> bool:
    """True if `fd` is our controlling terminal and another process group has it."""
    try:
        return os.isatty(fd) and os.tcgetpgrp(fd) != os.getpgrp()
    except OSError:  # not our controlling terminal (or none): reading it cannot stop us
        return False


def _write(fd: int, data: bytes) -> bool:
    """Write all of `data` to one of the CLI's (blocking) fds; False if it is gone."""
    while data:
        try:
            n = os.write(fd, data)
        except InterruptedError:
            continue
        except OSError as e:
            if e.errno in (errno.EPIPE, errno.EBADF, errno.EIO):
                return False
            raise
        data = data[n:]
    return True


def relay(done_fd: int, in_w: int, out_r: int, err_r: int) -> None:
    """Copy stdin -> in_w, out_r -> stdout, err_r -> stderr until `done_fd` (the joiner's
    pidfd) is readable; closes the three pipe ends."""
    for fd in (in_w, out_r, err_r):
        os.set_blocking(fd, False)
    sinks = {out_r: 1, err_r: 2}
    reading = not _background_tty(0)  # still reading the CLI's stdin
    pending = b""  # read from it, not yet taken by the command
    polling_stdin = False
    poller = select.poll()
    poller.register(done_fd, select.POLLIN)
    for fd in (out_r, err_r):
        poller.register(fd, select.POLLIN)
    poller.register(in_w, 0)

    def arm() -> None:
        """Wait for what the stdin side needs now (or close it: EOF for the command)."""
        nonlocal in_w, polling_stdin
        if in_w >= 0 and not reading and not pending:
            poller.unregister(in_w)
            os.close(in_w)
            in_w = -1
        want = in_w >= 0 and reading and not pending
        if want != polling_stdin:
            poller.register(0, select.POLLIN) if want else poller.unregister(0)
            polling_stdin = want
        if in_w >= 0:
            # POLLERR comes whatever the mask: the command closed its stdin
            poller.register(in_w, select.POLLOUT if pending else 0)

    arm()
    try:
        done = False
        while not done:
            try:
                events = poller.poll()
            except InterruptedError:
                continue
            for fd, ev in events:
                if fd == done_fd:
                    done = True
                elif fd in sinks:
                    if not _copy_out(fd, sinks[fd]):
                        poller.unregister(fd)
                        os.close(fd)
                        del sinks[fd]
                elif fd == 0:
                    try:
                        pending = os.read(0, CHUNK)
                    except OSError:  # EIO of a hung-up terminal, EBADF of a closed fd
                        pending = b""
                    reading = bool(pending)
                    arm()
                elif fd == in_w:
                    try:
                        pending = pending[os.write(in_w, pending) :] if pending else b""
                    except BlockingIOError:
                        pass
                    except OSError:  # EPIPE: nobody reads the command's stdin any more
                        pending, reading = b"", False
                    if ev & _ERR and not ev & select.POLLOUT:
                        pending, reading = b"", False
                    arm()
        for fd, sink in sinks.items():
            _drain(fd, sink)
    finally:
        for fd in [*sinks, in_w]:
            if fd >= 0:
                os.close(fd)


def _copy_out(fd: int, sink: int) -> bool:
    """Copy one chunk from a pipe to the CLI's fd; False at the pipe's end or when the
    CLI's fd is gone (closing the pipe then gives the command its SIGPIPE)."""
    try:
        data = os.read(fd, CHUNK)
    except BlockingIOError:
        return True
    return bool(data) and _write(sink, data)


def _drain(fd: int, sink: int) -> None:
    """What the command wrote before it exited: at most what the pipe holds (a background
    child that keeps writing must not keep the CLI copying)."""
    import fcntl

    left = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    while left > 0:
        try:
            data = os.read(fd, min(CHUNK, left))
        except BlockingIOError:
            return
        if not data or not _write(sink, data):
            return
        left -= len(data)
