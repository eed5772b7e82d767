"""The HTTP/JSON API of hutchd on its unix socket (see hutch.api for the routes)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from hutch import __version__
from hutch.api import wire
from hutch.container.ctid import valid_id
from hutch.daemon.supervisor import Supervisor
from hutch.errors import HutchError, UsageError

log = logging.getLogger("hutchd")

Handler = Callable[[Supervisor, str, dict], Awaitable[Any]]


async def _start(sup: Supervisor, ctid: str, body: dict) -> Any:
    return await sup.start(ctid)


async def _stop(sup: Supervisor, ctid: str, body: dict) -> Any:
    timeout = body.get("timeout")
    if timeout is not None and (not isinstance(timeout, int | float) or timeout < 0):
        raise UsageError("timeout must be a number of seconds >= 0")
    return await sup.stop(ctid, timeout, bool(body.get("kill")))


async def _restart(sup: Supervisor, ctid: str, body: dict) -> Any:
    return await sup.restart(ctid, body.get("timeout"))


async def _freeze(sup: Supervisor, ctid: str, body: dict) -> Any:
    return await sup.freeze(ctid)


async def _unfreeze(sup: Supervisor, ctid: str, body: dict) -> Any:
    return await sup.unfreeze(ctid)


def _directory(body: dict) -> str | None:
    d = body.get("dir")
    if d is not None and (not isinstance(d, str) or not d.startswith("/")):
        raise UsageError("dir must be an absolute path")
    return d


async def _checkpoint(sup: Supervisor, ctid: str, body: dict) -> Any:
    return await sup.checkpoint(ctid, _directory(body), bool(body.get("keep_running")))


async def _restore(sup: Supervisor, ctid: str, body: dict) -> Any:
    return await sup.restore(ctid, _directory(body))


async def _settings(sup: Supervisor, ctid: str, body: dict) -> Any:
    """{"changes": {KEY: VALUE}, "add": {KEY: [ITEM]}, "remove": {KEY: [ITEM]}, "save": bool}:
    values as config.toml holds them (null: back to the default; `Key.accept` turns them
    into typed values), items as `hutch set`'s --KEY_add/--KEY_del take them."""
    from hutch.container.runrecord import checked_settings

    changes = body.get("changes") or {}
    if not isinstance(changes, dict):
        raise UsageError("changes must be an object of settings")
    try:
        values = checked_settings(changes, "changes")
    except ValueError as e:
        raise UsageError(str(e)) from None
    items = {}
    for field in ("add", "remove"):
        given = body.get(field) or {}
        if not isinstance(given, dict) or not all(
            isinstance(v, list) and all(isinstance(i, str) for i in v) for v in given.values()
        ):
            raise UsageError(f"{field} must map settings to lists of strings")
        items[field] = given
    save = body.get("save", False)
    if not isinstance(save, bool):
        raise UsageError("save must be true or false")
    return await sup.settings(ctid, values, save, items["add"], items["remove"])


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "settings"): _settings,
    ("POST", "checkpoint"): _checkpoint,
    ("POST", "restore"): _restore,
    ("POST", "freeze"): _freeze,
    ("POST", "unfreeze"): _unfreeze,
    ("POST", "start"): _start,
    ("POST", "stop"): _stop,
    ("POST", "restart"): _restart,
}
_CT_PATH = re.compile(r"/v1/containers/([^/]+)/([a-z]+)")


# hutchd is one asyncio loop: a client that connects and sends nothing (or drips a byte a
# second) must cost a bounded number of fds and never hold a slot others need.
MAX_PENDING = 64  # connections still sending their request; the oldest goes for a new one
MAX_CONNECTIONS = 256  # in all (requests being served, attached consoles); beyond: 503
REQUEST_TIMEOUT = 10.0  # seconds to send the head and body of a request
WRITE_TIMEOUT = 30.0  # seconds for a client to take its answer


class Server:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.connections = 0
        # the connections still reading their request, oldest first (dicts keep order)
        self.pending: dict[asyncio.Task[Any], None] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= MAX_CONNECTIONS:
            writer.write(wire.response(503, _error(HutchError("hutchd: too many connections"))))
            writer.transport.abort()  # no drain: a client that does not read costs nothing
            return
        self.connections += 1
        # a drain returns once the client took every byte: then closing loses nothing
        writer.transport.set_write_buffer_limits(high=0)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, BrokenPipeError, TimeoutError, asyncio.CancelledError):
            pass  # a client gone, too slow, or pushed out by newer ones: nothing to answer
        finally:
            self.connections -= 1
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self.pending) >= MAX_PENDING:
            oldest = next(iter(self.pending))
            del self.pending[oldest]
            oldest.cancel()
        self.pending[task] = None
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                method, path, headers, body = await _read_request(reader)
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            IndexError,
            UsageError,
        ) as e:
            writer.write(wire.response(400, _error(UsageError(f"bad request: {e}"))))
            async with asyncio.timeout(WRITE_TIMEOUT):
                await writer.drain()
            return
        finally:
            self.pending.pop(task, None)
        if headers.get("upgrade") == "hutch-console":
            await self._console(path, reader, writer)
            return
        status, payload = await self._dispatch(method, path, body)
        writer.write(wire.response(status, payload))
        async with asyncio.timeout(WRITE_TIMEOUT):
            await writer.drain()

    async def _dispatch(self, method: str, path: str, body: dict) -> tuple[int, Any]:
        try:
            if path == "/v1/ping":
                return 200, {
                    "pid": os.getpid(),
                    "version": __version__,
                    "running": len(self.sup.running),
                }
            if path == "/v1/containers" and method == "GET":
                return 200, self.sup.describe_all()
            m = _CT_PATH.fullmatch(path)
            handler = ROUTES.get((method, m.group(2))) if m else None
            if m is None or handler is None:
                return 404, _error(UsageError(f"no route {method} {path}"))
            return 200, await handler(self.sup, valid_id(m.group(1)), body)
        except HutchError as e:
            return e.http_status, _error(e)
        except Exception as e:  # an internal error: answer, log the traceback, keep serving
            log.exception("%s %s failed", method, path)
            return 500, _error(HutchError(f"internal error in hutchd: {e}"))

    async def _console(
        self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        m = _CT_PATH.fullmatch(path)
        try:
            if m is None or m.group(2) != "console":
                raise UsageError(f"no console route {path}")
            console = self.sup.console(valid_id(m.group(1)))
        except HutchError as e:
            writer.write(wire.response(e.http_status, _error(e)))
            await writer.drain()
            return
        writer.write(
            wire.response(101, headers={"Upgrade": "hutch-console", "Connection": "Upgrade"})
        )
        recent = console.recent()
        # show the tail of what the console printed (the prompt the user is looking for)
        writer.write(recent[-2048:])
        await console.attach(reader, writer)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], dict]:
    """Method, path, headers and JSON body of one request; the head is bounded by the
    stream's limit (wire.MAX_HEAD), the body by wire.MAX_BODY."""
    head = await reader.readuntil(b"\r\n\r\n")
    start, headers = wire.parse_head(head[:-4])
    method, path = start[0], start[1]
    length = int(headers.get("content-length", "0"))
    if not 0 <= length <= wire.MAX_BODY:
        raise UsageError(f"request body of {length} bytes (at most {wire.MAX_BODY})")
    raw = await reader.readexactly(length) if length else b""
    body = json.loads(raw) if raw else {}
    if not isinstance(body, dict):
        raise UsageError("request body must be a JSON object")
    return method, path, headers, body


def _error(e: HutchError) -> dict:
    return {"error": {"kind": e.kind, "message": str(e)}}
