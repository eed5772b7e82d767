"""The HTTP/JSON API of hutchd on its unix socket (see hutch.api for the routes)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from hutch import __version__, ids
from hutch.api import wire
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


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "checkpoint"): _checkpoint,
    ("POST", "restore"): _restore,
    ("POST", "freeze"): _freeze,
    ("POST", "unfreeze"): _unfreeze,
    ("POST", "start"): _start,
    ("POST", "stop"): _stop,
    ("POST", "restart"): _restart,
}
_CT_PATH = re.compile(r"/v1/containers/([^/]+)/([a-z]+)")


class Server:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                start, headers = wire.parse_head(head[:-4])
                method, path = start[0], start[1]
                length = int(headers.get("content-length", "0"))
                if length > wire.MAX_BODY:
                    raise UsageError("request body too large")
                raw = await reader.readexactly(length) if length else b""
                body = json.loads(raw) if raw else {}
                if not isinstance(body, dict):
                    raise UsageError("request body must be a JSON object")
            except (
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
                IndexError,
            ) as e:
                writer.write(wire.response(400, _error(UsageError(f"bad request: {e}"))))
                return
            if headers.get("upgrade") == "hutch-console":
                await self._console(path, reader, writer)
                return
            status, payload = await self._dispatch(method, path, body)
            writer.write(wire.response(status, payload))
            await writer.drain()
        except (ConnectionError, BrokenPipeError):
            pass
        finally:
            writer.close()

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
            return 200, await handler(self.sup, ids.validate(m.group(1)), body)
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
            console = self.sup.console(ids.validate(m.group(1)))
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


def _error(e: HutchError) -> dict:
    return {"error": {"kind": e.kind, "message": str(e)}}
