"""hutchd's socket against clients that connect and never finish a request (issue 12 item 9):
idle connections and a slow drip cost hutchd a bounded number of fds, are closed after the
request timeout, and never keep the CLI's own requests from being served."""

from __future__ import annotations

import os
import select
import socket
import time

import pytest

pytestmark = pytest.mark.root

IDLE = 200
MAX_PENDING = 64  # hutch.daemon.server.MAX_PENDING
SLACK = 40  # hutchd's own fds (log, lock, pidfds, consoles, epoll, the listener...)
DEADLINE = 60.0  # an upper bound for the 10 s request timeout under load


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _connect(path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    return s


def _closed_by_peer(s: socket.socket, timeout: float) -> bool:
    """True once hutchd closed `s` (EOF or reset) within `timeout` s."""
    ready, _, _ = select.select([s], [], [], timeout)
    if not ready:
        return False
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True


def test_idle_connections_and_a_slow_drip_do_not_block_hutchd(hutch):
    ctid = hutch.running()
    pid = hutch.daemon_pid()
    assert pid is not None
    base = _fds(pid)
    idle = [_connect(hutch.paths.socket) for _ in range(IDLE)]
    drip = _connect(hutch.paths.socket)
    try:
        drip.sendall(b"GET /v1/ping HTTP/1.1\r\n")
        # the CLI is served while they hang on (through hutchd: stop and start)
        assert hutch.json("stop", ctid)["status"] == "stopped"
        assert hutch.start(ctid) > 0
        assert ctid in hutch.ok("list", "-a").stdout
        # at most MAX_PENDING of the idle ones are still held by hutchd: older ones went
        assert _fds(pid) <= base + MAX_PENDING + SLACK, os.listdir(f"/proc/{pid}/fd")
        # the oldest idle connections were closed to make room
        assert _closed_by_peer(idle[0], DEADLINE)
        # a slow drip is cut at the request timeout, whatever it keeps sending
        deadline = time.monotonic() + DEADLINE
        cut = False
        while time.monotonic() < deadline and not cut:
            try:
                drip.send(b"X")
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            cut = _closed_by_peer(drip, 0.5)
        assert cut, "hutchd kept a connection that never finished its head"
        # and so is every idle one, in the end
        for s in idle[-MAX_PENDING:]:
            assert _closed_by_peer(s, DEADLINE)
    finally:
        for s in [*idle, drip]:
            s.close()
    hutch.wait_until(lambda: _fds(pid) <= base + 2, DEADLINE, "hutchd to close the sockets")
    assert hutch.json("stop", ctid)["status"] == "stopped"


def test_oversized_requests_are_refused(hutch):
    hutch.running()  # hutchd up
    for request in (
        b"POST /v1/containers/x/start HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
        b"GET /v1/ping HTTP/1.1\r\nX: " + b"a" * (128 * 1024) + b"\r\n\r\n",
        b"GET /v1/ping HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
    ):
        s = _connect(hutch.paths.socket)
        try:
            try:
                s.sendall(request)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before it was all sent
            s.shutdown(socket.SHUT_WR)
            data = b""
            assert select.select([s], [], [], DEADLINE)[0]
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
            assert data.startswith(b"HTTP/1.1 400 "), data[:200]
        finally:
            s.close()
    assert hutch.json("list", "-a") is not None
