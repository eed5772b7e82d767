"""A container console: the pty master hutchd holds, its log, and attached clients."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import BinaryIO

from hutch.container.attach import TIOCGPTPEER

RING = 64 * 1024  # what a newly attached client is shown of the recent past
LOG_MAX = 1024 * 1024  # console.log rotates to console.log.1 beyond this
MAX_CLIENT_BACKLOG = 1024 * 1024


def _open_log(path: Path) -> BinaryIO:
    """console.log, for root only (0600 in a 0700 directory, the rotated file too): what a
    container prints on its console (boot messages, a password typed at its getty, what its
    root chooses to print) is no business of the host's other users. Files made by an older
    hutch are tightened here too."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    rotated = path.with_name(path.name + ".1")
    try:
        os.chmod(rotated, 0o600, follow_symlinks=False)
    except (FileNotFoundError, NotImplementedError):
        pass
    return open(fd, "ab", buffering=0)


class Console:
    def __init__(self, ctid: str, master: int, log_path: Path) -> None:
        self.ctid = ctid
        self.master = master
        os.set_blocking(master, False)
        # Hold a slave fd ourselves: with no slave open the master reads EIO in a loop
        # (between a getty's exit and its respawn, say).
        self._slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        self.log_path = log_path
        self._log = _open_log(log_path)
        self._ring = bytearray()
        self.clients: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(master, self._on_read)
        self.closed = False

    def _on_read(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self._record(data)
        for w in list(self.clients):
            if w.transport.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
                # a client that does not read must not make hutchd grow without bound
                self.clients.discard(w)
                w.close()
                continue
            w.write(data)

    def _record(self, data: bytes) -> None:
        self._ring += data
        if len(self._ring) > RING:
            del self._ring[: len(self._ring) - RING]
        try:
            if self._log.tell() + len(data) > LOG_MAX:
                self._log.close()
                os.replace(self.log_path, self.log_path.with_name(self.log_path.name + ".1"))
                self._log = _open_log(self.log_path)
            self._log.write(data)
        except OSError:
            pass  # a full disk must not stop the console

    def recent(self) -> bytes:
        return bytes(self._ring)

    async def attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client until it disconnects or the console closes."""
        self.clients.add(writer)
        try:
            while not self.closed:
                data = await reader.read(4096)
                if not data:
                    break
                try:
                    os.write(self.master, data)
                except BlockingIOError:
                    pass  # the container does not read its console: drop keystrokes
                except OSError:
                    break
        finally:
            self.clients.discard(writer)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self.master)
        # drain what the container wrote last (its shutdown messages)
        try:
            while True:
                data = os.read(self.master, 65536)
                if not data:
                    break
                self._record(data)
        except OSError:
            pass
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
        for w in self.clients:
            w.close()
        self.clients.clear()
