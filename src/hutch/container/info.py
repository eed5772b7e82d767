"""Read-only views of containers (status, list) straight from files and the kernel."""

from __future__ import annotations

import time
from typing import Any

from hutch.config import load
from hutch.container.state import RunState
from hutch.errors import NotFound, StateConflict
from hutch.paths import Paths

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
)


def _nproc(st: RunState) -> int:
    return len(st.cgroups.pids())


def _frozen(st: RunState) -> bool:
    from hutch.container.attach import _is_frozen

    return _is_frozen(st)


def describe(paths: Paths, ctid: str, require: bool = False) -> dict[str, Any]:
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
    return info
