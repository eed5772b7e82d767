"""Run a function in a short-lived forked child, optionally inside another process's network
namespace, and get its JSON-able result back.

hutchd runs an asyncio loop, and pyroute2's synchronous API refuses to run under a running
loop; network namespaces are per thread of a process. A forked worker solves both: it joins
the namespace, does its netlink work, reports, and exits; hutchd never changes namespace.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable
from typing import Any

from hutch.linux import syscalls as sc


def _forget_event_loop() -> None:
    """The child inherits the parent's running-loop marker: drop it (see module docstring)."""
    import sys

    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        asyncio.events._set_running_loop(None)


def run_in_worker(fn: Callable[..., Any], *args: Any, netns_fd: int | None = None) -> Any:
    """fn(*args) in a forked child (in the network namespace of `netns_fd`, if given).

    Returns its result (JSON round trip); its exception comes back as OSError with the
    child's message."""
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        try:
            _forget_event_loop()
            if netns_fd is not None:
                sc.setns(netns_fd, sc.CLONE_NEWNET, "net")
            out = json.dumps({"ok": fn(*args)})
            code = 0
        except BaseException as e:  # report anything, including KeyboardInterrupt
            kind = getattr(e, "kind", None)  # a HutchError keeps its class across the pipe
            out = json.dumps(
                {"error": f"{e}", "kind": kind, "trace": traceback.format_exc(limit=4)}
            )
            code = 1
        data = out.encode()
        while data:
            n = os.write(w, data)
            data = data[n:]
        os._exit(code)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    os.waitpid(pid, 0)
    try:
        reply = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        reply = {}
    if "ok" in reply:
        return reply["ok"]
    if reply.get("kind"):
        from hutch.errors import from_wire

        raise from_wire(reply["kind"], reply["error"])
    raise OSError(reply.get("error") or "worker died without a word")
