"""OpenVZ's /proc/user_beancounters, rebuilt from the mainline kernel's counters.

For each resource: `held` (now), `maxheld` (the most since the container started),
`barrier` and `limit`, and `failcnt` (allocations the kernel refused). Units are OpenVZ's:
*pages resources in pages, *size and *buf resources in bytes, num* resources as counts;
"unlimited" is LONG_MAX, as on a 64-bit OpenVZ kernel.

Three resources are enforced by the kernel (their barrier, limit and failcnt are the
kernel's): numproc (pids), physpages (memory) and swappages (swap). Every other one is
accounting only: held and maxheld are measured, barrier and limit are shown as configured.
The table of sources is docs/resources.md.

Where the kernel keeps no peak, maxheld is kept here, in a small JSON file per container
in the run directory (`maxheld_path`), raised on every read and removed with the runtime
state when the container stops.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hutch.cgroups.accounting import (
    CgroupCounters,
    ProcessCounters,
    read_cgroup,
    read_processes,
)
from hutch.config import units
from hutch.config.resource_keys import UBC
from hutch.container.state import RunState
from hutch.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.config import ContainerConfig

LONG_MAX = 9223372036854775807
VERSION = "2.5"

# the order of /proc/user_beancounters (its "dummy" rows left out), then what came later
ORDER = (
    "kmemsize",
    "lockedpages",
    "privvmpages",
    "shmpages",
    "numproc",
    "physpages",
    "vmguarpages",
    "oomguarpages",
    "numtcpsock",
    "numflock",
    "numpty",
    "numsiginfo",
    "tcpsndbuf",
    "tcprcvbuf",
    "othersockbuf",
    "dgramrcvbuf",
    "numothersock",
    "dcachesize",
    "numfile",
    "numiptent",
    "swappages",
    "avnumproc",
)
ENFORCED = ("numproc", "physpages", "swappages")
UNIT = {"numproc": "count"} | {name: unit for name, unit, _help in UBC}


class Beancounter:
    """One row. `held`/`maxheld` are None where this kernel cannot measure the resource."""

    __slots__ = ("barrier", "failcnt", "held", "limit", "maxheld", "resource")

    def __init__(
        self,
        resource: str,
        held: int | None,
        maxheld: int | None,
        barrier: int = LONG_MAX,
        limit: int = LONG_MAX,
        failcnt: int = 0,
    ) -> None:
        self.resource = resource
        self.held = held
        self.maxheld = maxheld
        self.barrier = barrier
        self.limit = limit
        self.failcnt = failcnt

    def __repr__(self) -> str:
        return f"Beancounter({self.to_dict()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Beancounter) and other.to_dict() == self.to_dict()

    def to_dict(self) -> dict[str, int | str | None]:
        return {name: getattr(self, name) for name in self.__slots__}


# -- the mapping (pure) ----------------------------------------------------------------------


def configured(cfg: ContainerConfig | None, resource: str) -> tuple[int | None, int | None]:
    """(barrier, limit) as the config sets them, in the resource's own unit; None: unset."""
    if cfg is None:
        return None, None
    pair = cfg.resources_numproc if resource == "numproc" else cfg.get("ubc." + resource)
    if pair is None:
        return None, None
    return pair.barrier, pair.limit


def compute(
    cfg: ContainerConfig | None,
    cgc: CgroupCounters,
    pc: ProcessCounters,
    kept: dict[str, int],
    page: int = units.PAGE,
) -> list[Beancounter]:
    """Every row, from the kernel counters and the config. `kept` holds the maxheld values
    hutch keeps itself (where the kernel has no peak); it is raised in place."""

    def pages(n: int | None) -> int | None:
        return None if n is None else n // page

    def add(n: int | None, m: int | None) -> int | None:
        """RAM + swap; a swap the kernel does not count is 0."""
        return None if n is None else n + (m or 0)

    # resource -> (held, kernel's peak or None)
    usage: dict[str, tuple[int | None, int | None]] = {
        "kmemsize": (cgc.memory_kernel, cgc.memory_kernel_peak),
        "lockedpages": (pc.lockedpages, None),
        "privvmpages": (pages(cgc.memory_anon), None),
        "shmpages": (pages(cgc.memory_shmem), None),
        "numproc": (cgc.pids, cgc.pids_peak),
        "physpages": (pages(cgc.memory), pages(cgc.memory_peak)),
        "vmguarpages": (0, 0),  # a guarantee: nothing is held against it (as in OpenVZ)
        "oomguarpages": (pages(add(cgc.memory, cgc.swap)), None),
        "numtcpsock": (pc.numtcpsock, None),
        "numflock": (pc.numflock, None),
        "numpty": (pc.numpty, None),
        "numsiginfo": (pc.numsiginfo, None),
        "tcpsndbuf": (pc.tcpsndbuf, None),
        "tcprcvbuf": (pc.tcprcvbuf, None),
        "othersockbuf": (pc.othersockbuf, None),
        "dgramrcvbuf": (pc.dgramrcvbuf, None),
        "numothersock": (pc.numothersock, None),
        "dcachesize": (cgc.memory_slab_reclaimable, None),
        "numfile": (pc.numfile, None),
        "numiptent": (None, None),
        "swappages": (pages(cgc.swap), pages(cgc.swap_peak)),
        "avnumproc": (cgc.pids, cgc.pids_peak),
    }
    # resource -> (kernel's barrier, kernel's limit, failcnt) for the enforced ones
    kernel = {
        "numproc": (None, cgc.pids_limit, cgc.pids_failcnt),
        "physpages": (
            pages(cgc.memory_high),
            pages(cgc.memory_limit),
            cgc.memory_failcnt,
        ),
        "swappages": (None, pages(cgc.swap_limit), cgc.swap_failcnt),
    }
    rows = []
    for resource in ORDER:
        held, peak = usage[resource]
        if peak is not None:
            maxheld: int | None = peak if held is None else max(peak, held)
        elif held is not None:
            maxheld = kept[resource] = max(kept.get(resource, 0), held)
        else:
            maxheld = kept.get(resource)
        barrier, limit = configured(cfg, resource)
        failcnt = 0
        if resource in kernel:
            k_barrier, k_limit, k_fail = kernel[resource]
            limit = k_limit
            # the kernel's soft limit where there is one, else what the config says, never
            # above the limit
            if k_barrier is not None:
                barrier = k_barrier
            if barrier is None or (limit is not None and barrier > limit):
                barrier = limit
            failcnt = k_fail or 0
        rows.append(
            Beancounter(
                resource,
                held,
                maxheld,
                LONG_MAX if barrier is None else barrier,
                LONG_MAX if limit is None else limit,
                failcnt,
            )
        )
    return rows


# -- the layout ------------------------------------------------------------------------------

_WIDTH = 20  # a 64-bit OpenVZ kernel's column: LONG_MAX has 19 digits


def _line(uid: str, sep: str, resource: str, values: list[str]) -> str:
    return f"{uid:>10}{sep} {resource:<12}" + "".join(f" {v:>{_WIDTH}}" for v in values)


def format_table(containers: list[tuple[str, list[Beancounter]]]) -> str:
    """The /proc/user_beancounters text: a version line, a header, then each container's
    rows, its ID (the "uid") on the first one. An unmeasured value shows as 0."""
    head = ["held", "maxheld", "barrier", "limit", "failcnt"]
    lines = [f"Version: {VERSION}", _line("uid", " ", "resource", head)]
    for ctid, rows in containers:
        for i, r in enumerate(rows):
            values = [r.held, r.maxheld, r.barrier, r.limit, r.failcnt]
            lines.append(
                _line(
                    ctid if i == 0 else "",
                    ":" if i == 0 else " ",
                    r.resource,
                    [str(v or 0) for v in values],
                )
            )
    return "\n".join(lines) + "\n"


def to_json(containers: list[tuple[str, list[Beancounter]]]) -> dict[str, dict[str, dict]]:
    """{ctid: {resource: {held, maxheld, barrier, limit, failcnt}}}; unmeasured: null."""
    return {
        ctid: {r.resource: {k: v for k, v in r.to_dict().items() if k != "resource"} for r in rows}
        for ctid, rows in containers
    }


# -- reading a running container ---------------------------------------------------------------


def maxheld_path(paths: Paths, ctid: str) -> Path:
    """Where the maxheld values hutch keeps live: next to the runtime state, gone on stop."""
    return paths.ct_maxheld(ctid)


def remove_maxheld(paths: Paths, ctid: str) -> None:
    try:
        os.unlink(maxheld_path(paths, ctid))
    except FileNotFoundError:
        pass


def _load_kept(path: Path, st: RunState) -> dict[str, int]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    # a file left by an earlier run of the container (another init) is not this run's
    if not isinstance(data, dict) or [data.get("pid"), data.get("starttime")] != [
        st.pid,
        st.starttime,
    ]:
        return {}
    kept = data.get("maxheld")
    if not isinstance(kept, dict):
        return {}
    return {k: v for k, v in kept.items() if isinstance(v, int) and not isinstance(v, bool)}


def _save_kept(path: Path, st: RunState, kept: dict[str, int]) -> None:
    data = {"pid": st.pid, "starttime": st.starttime, "maxheld": kept}
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, path)
    except OSError:  # a reader without write access still gets its numbers
        try:
            os.unlink(tmp)
        except OSError:
            pass


def read(paths: Paths, st: RunState, cfg: ContainerConfig | None) -> list[Beancounter]:
    """The beancounters of a running container (its state `st`), keeping maxheld."""
    cg = st.cgroups
    cgc = read_cgroup(cg)
    pc = read_processes(cg.pids(), st.pid, units.PAGE)
    path = maxheld_path(paths, st.ctid)
    kept = _load_kept(path, st)
    before = dict(kept)
    rows = compute(cfg, cgc, pc, kept)
    if kept != before:
        _save_kept(path, st, kept)
    return rows


def read_running(paths: Paths, ctids: list[str]) -> list[tuple[str, list[Beancounter]]]:
    """The beancounters of these running containers (every running one when none is
    named; a named one that does not run is an error), by ID."""
    from hutch.config import load
    from hutch.container import runrecord
    from hutch.container.stats import running_states
    from hutch.errors import HutchError

    table = []
    for st in running_states(paths, ctids):
        try:
            saved = load(paths.ct_config(st.ctid), st.ctid)
            # the limits it runs with, live changes included
            cfg = runrecord.read(paths, st, saved) or saved
        except HutchError:  # a broken or vanished config must not hide what the kernel counts
            cfg = None
        table.append((st.ctid, read(paths, st, cfg)))
    return table
