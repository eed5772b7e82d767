"""Relay the user's terminal to a pty master (exec -t, enter) or a console stream."""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import termios
import tty
from collections.abc import Iterator
from contextlib import contextmanager

CTRL_A = b"\x01"


@contextmanager
def raw_terminal(fd: int) -> Iterator[bool]:
    """Put the user's terminal in raw mode (if it is one) and always restore it."""
    if not os.isatty(fd):
        yield False
        return
    saved = termios.tcgetattr(fd)
    try:
        # TCSADRAIN, not setraw's default TCSAFLUSH: keep what the user typed ahead
        tty.setraw(fd, termios.TCSADRAIN)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _copy_winsize(src: int, dst: int) -> None:
    try:
        size = fcntl.ioctl(src, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(dst, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def relay_from_socket(sock: socket.socket, joiner_fd: int) -> None:
    """Receive the pty master from the joiner and relay it until the command closes it
    (or the joiner, whose pidfd is `joiner_fd`, exits: a command that failed before opening
    its terminal never closes one, so the pty alone would never say it is over)."""
    try:
        _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    finally:
        sock.close()
    if not fds:
        return  # the joiner failed before it made a pty; it reports why
    master = fds[0]
    try:
        relay_pty(master, joiner_fd)
    finally:
        os.close(master)


def relay_pty(master: int, done_fd: int | None = None) -> None:
    stdin, stdout = 0, 1  # the fds: sys.stdin is None when the CLI started without one
    interactive = os.isatty(stdin)
    if interactive:
        _copy_winsize(stdin, master)
        old = signal.signal(signal.SIGWINCH, lambda *_: _copy_winsize(stdin, master))
    try:
        with raw_terminal(stdin):
            _pump(master, stdin, stdout, done_fd)
    finally:
        if interactive:
            signal.signal(signal.SIGWINCH, old)


def _pump(master: int, stdin: int, stdout: int, done_fd: int | None = None) -> None:
    inputs = [master, stdin] + ([done_fd] if done_fd is not None else [])
    while True:
        try:
            ready, _, _ = select.select(inputs, [], [])
        except InterruptedError:
            continue
        if done_fd is not None and done_fd in ready:
            _drain(master, stdout)
            return
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError as e:
                if e.errno == errno.EIO:  # every slave fd is closed: the command ended
                    return
                raise
            if not data:
                return
            _write_all(stdout, data)
        if stdin in ready:
            data = os.read(stdin, 65536)
            if not data:
                inputs.remove(stdin)
                # end of input: pass an EOF character so `hutch exec -t ID cat <file` ends
                _write_all(master, b"\x04")
                continue
            _write_all(master, data)


def _drain(master: int, stdout: int) -> None:
    """Copy what the command wrote last. The pty hands data over through a kernel work
    queue, so wait briefly for stragglers: until EIO (no slave left) or 50 ms of quiet."""
    while select.select([master], [], [], 0.05)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:
            return
        if not data:
            return
        _write_all(stdout, data)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except InterruptedError:
            continue
        data = data[n:]


def relay_console(sock: socket.socket, first: bytes = b"", escape: bytes = CTRL_A) -> str:
    """Relay a console stream until the user types Ctrl-a q or the stream ends.

    Returns "detached" or "closed". Ctrl-a Ctrl-a sends one Ctrl-a through.
    """
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    inputs: list = [sock, stdin]
    pending_escape = False
    with raw_terminal(stdin):
        _write_all(stdout, first)
        while True:
            try:
                ready, _, _ = select.select(inputs, [], [])
            except InterruptedError:
                continue
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    return "closed"
                _write_all(stdout, data)
            if stdin in ready:
                data = os.read(stdin, 1024)
                if not data:
                    inputs.remove(stdin)
                    continue
                out = bytearray()
                for b in data:
                    ch = bytes([b])
                    if pending_escape:
                        pending_escape = False
                        if ch in (b"q", b"Q"):
                            if out:
                                sock.sendall(bytes(out))
                            return "detached"
                        out += ch if ch == escape else escape + ch
                    elif ch == escape:
                        pending_escape = True
                    else:
                        out += ch
                if out:
                    sock.sendall(bytes(out))
