"""Read-only views of containers (status, list) straight from files and the kernel."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from hutch.container.ctid import container_ids
from hutch.container.state import RunState, running_state
from hutch.errors import HutchError, NotFound, StateConflict
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
    "idmap",
    *ACCOUNTING,
    "diskspace",
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


CONFIG_COLUMNS = ("template", "onboot", "description")


def describe(
    paths: Paths, ctid: str, require: bool = False, columns: Collection[str] = ()
) -> dict[str, Any]:
    """What `status` and `list` show. For a running container the host name and addresses
    come from its run state; config.toml is read only for a stopped one or when a config
    column is asked for (`columns` empty: every column). The accounting columns
    (`ACCOUNTING`) are read only when asked for."""
    cfg_path = paths.ct_config(ctid)
    if not cfg_path.is_file():
        if require:
            raise NotFound(f"container {ctid} does not exist", hint="see 'hutch list -a'")
        return {"ctid": ctid, "status": "deleted"}
    st = RunState.load(paths, ctid)
    alive = st is not None and st.alive()
    info: dict[str, Any] = {
        "ctid": ctid,
        "status": "stopped",
        "nproc": 0,
        "pid": None,
        "uptime": None,
    }
    if (
        not alive
        or not columns
        or any(c in CONFIG_COLUMNS for c in columns)
        or not (st and st.hostname)
    ):
        info.update(_from_config(paths, ctid, strict=require))
    if st is not None and alive:
        if st.hostname:
            info["hostname"] = st.hostname
            info["ips"] = list(st.ips)
        info["status"] = "frozen" if _frozen(st) else "running"
        info["idmap"] = st.idmap
        info["nproc"] = _nproc(st)
        info["pid"] = st.pid
        info["uptime"] = round(time.time() - st.started_at, 1)
        if any(c in ACCOUNTING for c in columns):
            info.update(_accounting(st, info["nproc"]))
    if "diskspace" in columns:
        info["diskspace"] = _diskspace(paths, ctid)
    info["ip"] = info["ips"][0] if info.get("ips") else "-"
    return info


def list_rows(
    paths: Paths, ctids: list[str], which: str, columns: Collection[str]
) -> tuple[list[dict[str, Any]], list[HutchError]]:
    """What `hutch list` shows: the rows of `ctids` (none: every container), `which` of
    them ("running", "stopped" or "all"), and the errors of the containers it could not show
    (an unreadable run state: left out; an unreadable config: shown, and named)."""
    from hutch.errors import InvalidConfig

    wanted = ctids or container_ids(paths)
    broken: list[HutchError] = []
    if which == "running":
        # the default view: running ones only, and those need no config.toml parsing
        running = []
        for c in wanted:
            try:
                if running_state(paths, c) is not None:
                    running.append(c)
            except StateConflict as e:
                broken.append(e)
        wanted = running
    rows = []
    for c in wanted:
        try:
            rows.append(describe(paths, c, require=bool(ctids), columns=columns))
        except StateConflict as e:
            broken.append(e)
        else:
            if rows[-1].get("error"):  # shown (its config is unreadable), and named
                broken.append(InvalidConfig(rows[-1]["error"]))
    if which == "stopped":
        rows = [r for r in rows if r["status"] == "stopped"]
    elif which == "running":
        rows = [r for r in rows if r["status"] != "stopped"]
    return rows, broken


def _diskspace(paths: Paths, ctid: str) -> int | None:
    """Bytes of disk in use (`list -o diskspace`): counted, so only when asked for."""
    from hutch.config import load
    from hutch.container.disk import usage

    try:
        return usage(paths, load(paths.ct_config(ctid), ctid)).used_bytes
    except Exception:  # a broken config or image must not break `list` for every container
        return None


def _from_config(paths: Paths, ctid: str, strict: bool = False) -> dict[str, Any]:
    from hutch.config import load

    try:
        cfg = load(paths.ct_config(ctid), ctid)
    except (NotFound, StateConflict):
        raise
    except Exception as e:  # a broken config must not break `list` for every container
        if strict and isinstance(e, HutchError):
            raise  # `status`: the one container asked for
        return {
            "error": str(e),  # `list` names it after the table
            "hostname": "-",
            "template": "-",
            "onboot": False,
            "ips": [],
            "description": f"bad config: {e}",
        }
    from hutch.container.netplan import addresses
    from hutch.security.idmap import mode

    return {
        "idmap": mode(cfg.idmap, cfg.security_idmap),
        "hostname": cfg.effective_hostname,
        "template": cfg.template or "-",
        "onboot": cfg.onboot,
        "description": cfg.description,
        "ips": addresses(cfg),
    }
