"""Read-only views of containers (status, list) straight from files and the kernel."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from hutch.config import load
from hutch.container.state import RunState
from hutch.errors import NotFound, StateConflict
from hutch.paths import Paths

# columns read from the cgroup counters, only when asked for (`list -o`)
ACCOUNTING = ("cpu", "mem", "memlimit", "tasks", "numproc", "io")
COLUMNS = (
    "ctid",
    "nproc",
    "status",
    "ip",
    "hostname",
    "template",
    "pid",
    "uptime",
    "onboot",
    "description",
    *ACCOUNTING,
)


def _nproc(st: RunState) -> int:
    return len(st.cgroups.pids())


def _frozen(st: RunState) -> bool:
    from hutch.container.attach import _is_frozen

    return _is_frozen(st)


def _accounting(st: RunState, nproc: int) -> dict[str, Any]:
    """The `list -o` columns read from the cgroup counters (only when asked for)."""
    from hutch.cgroups.accounting import read_cgroup

    c = read_cgroup(st.cgroups)
    io = None
    if c.io_read_bytes is not None or c.io_write_bytes is not None:
        io = (c.io_read_bytes or 0) + (c.io_write_bytes or 0)
    return {
        "cpu": None if c.cpu_usec is None else round(c.cpu_usec / 1e6, 2),
        "mem": c.memory,
        "memlimit": c.memory_limit,
        "tasks": nproc if c.pids is None else c.pids,
        "numproc": c.pids_limit,
        "io": io,
    }


def describe(
    paths: Paths, ctid: str, require: bool = False, columns: Collection[str] = ()
) -> dict[str, Any]:
    """What `status` and `list` show. The accounting columns (`ACCOUNTING`) are read only
    when `columns` asks for one of them."""
    cfg_path = paths.ct_config(ctid)
    if not cfg_path.is_file():
        if require:
            raise NotFound(f"container {ctid} does not exist", hint="see 'hutch list -a'")
        return {"ctid": ctid, "status": "deleted"}
    try:
        cfg = load(cfg_path, ctid)
        hostname, template = cfg.effective_hostname, cfg.template
        onboot, description = cfg.onboot, cfg.description
    except (NotFound, StateConflict):
        raise
    except Exception as e:  # a broken config must not break `list` for every container
        hostname, template, onboot, description = "-", "-", False, f"bad config: {e}"
    info: dict[str, Any] = {
        "ctid": ctid,
        "hostname": hostname,
        "template": template or "-",
        "ip": "-",
        "onboot": onboot,
        "description": description,
        "status": "stopped",
        "nproc": 0,
        "pid": None,
        "uptime": None,
    }
    st = RunState.load(paths, ctid)
    if st is not None and st.alive():
        info["status"] = "frozen" if _frozen(st) else "running"
        info["nproc"] = _nproc(st)
        info["pid"] = st.pid
        info["uptime"] = round(time.time() - st.started_at, 1)
        if any(c in ACCOUNTING for c in columns):
            info.update(_accounting(st, info["nproc"]))
    return info
