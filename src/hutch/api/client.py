"""The client of hutchd, used by the CLI; starts the daemon on demand."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from typing import Any

from hutch.api import wire
from hutch.errors import DaemonError, from_wire
from hutch.paths import Paths

START_TIMEOUT = 10.0


class Client:
    def __init__(self, paths: Paths, autostart: bool = True) -> None:
        self.paths = paths
        self.autostart = autostart

    def _connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(str(self.paths.socket))
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if not self.autostart:
                raise DaemonError(
                    f"hutchd is not running (no socket at {self.paths.socket})"
                ) from None
        self.start_daemon()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.connect(str(self.paths.socket))
        return s

    def start_daemon(self) -> None:
        """Start hutchd if it is not running; return once its socket accepts connections.

        A lock file serialises racing CLIs so exactly one daemon is spawned.
        """
        run = self.paths.run
        run.mkdir(parents=True, exist_ok=True)
        lockfd = os.open(run / "hutchd.spawn.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lockfd, fcntl.LOCK_EX)
            if self.ping_ok():
                return
            self.paths.log.mkdir(parents=True, exist_ok=True)
            log = os.open(
                self.paths.daemon_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            try:
                pid = os.fork()
                if pid == 0:  # pragma: no cover - child
                    try:
                        os.setsid()
                        null = os.open(os.devnull, os.O_RDONLY)
                        os.dup2(null, 0)
                        os.dup2(log, 1)
                        os.dup2(log, 2)
                        os.closerange(3, 1 << 16)
                        os.execv(
                            sys.executable,
                            [sys.executable, "-m", "hutch.daemon", "--root", str(self.paths.root)],
                        )
                    finally:
                        os._exit(127)
            finally:
                os.close(log)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done and status != 0:  # it exits at once only when it failed to start
                    raise DaemonError(
                        f"hutchd failed to start (exit {os.waitstatus_to_exitcode(status)})",
                        hint=f"see {self.paths.daemon_log}",
                    )
                if self.ping_ok():
                    return
                time.sleep(0.005)
            raise DaemonError("hutchd did not come up in time", hint=f"see {self.paths.daemon_log}")
        finally:
            os.close(lockfd)

    def ping_ok(self) -> bool:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(str(self.paths.socket))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        s = self._connect()
        try:
            s.sendall(wire.request(method, path, body))
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        except OSError as e:
            raise DaemonError(f"lost connection to hutchd: {e.strerror}") from None
        finally:
            s.close()
        raw = b"".join(chunks)
        head, sep, payload = raw.partition(b"\r\n\r\n")
        if not sep:
            raise DaemonError(
                "hutchd closed the connection without an answer",
                hint=f"see {self.paths.daemon_log}",
            )
        start, _ = wire.parse_head(head)
        status = int(start[1])
        data = json.loads(payload) if payload else None
        if status >= 400:
            err = (data or {}).get("error", {})
            raise from_wire(err.get("kind", "error"), err.get("message", f"HTTP {status}"))
        return data

    def upgrade(self, path: str, protocol: str) -> tuple[socket.socket, bytes]:
        """Open a raw stream (the console): the socket after `101 Switching Protocols`, and
        any stream bytes that arrived with the answer."""
        s = self._connect()
        s.sendall(wire.request("GET", path, None, {"Connection": "Upgrade", "Upgrade": protocol}))
        buf = b""
        while b"\r\n\r\n" not in buf:
            b = s.recv(4096)
            if not b:
                s.close()
                raise DaemonError("hutchd closed the console connection")
            buf += b
        head, _, rest = buf.partition(b"\r\n\r\n")
        start, _ = wire.parse_head(head)
        status = int(start[1])
        if status != 101:
            payload = rest
            while True:
                b = s.recv(65536)
                if not b:
                    break
                payload += b
            s.close()
            err = (json.loads(payload) if payload else {}).get("error", {})
            raise from_wire(err.get("kind", "error"), err.get("message", f"HTTP {status}"))
        return s, rest
