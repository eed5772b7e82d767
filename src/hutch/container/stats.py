"""What running containers use now, read straight from their cgroup files (no daemon, no
config): which containers run, samples of their counters, and rows made of two samples.

CPU% (of one CPU) comes from two samples of a container's CPU counter; `hutch stats` takes
one sleep for all containers at once.
"""

from __future__ import annotations

import os
import time

from hutch.container.state import RunState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.accounting import CgroupCounters
    from hutch.paths import Paths


def running_states(paths: Paths, ctids: list[str], strict: bool = True) -> list[RunState]:
    """The runtime state of these containers (all running ones when none is named).

    A named container that does not exist or does not run is an error when `strict`, else
    left out."""
    from hutch import ids
    from hutch.container.ctid import valid_id
    from hutch.errors import NotFound, StateConflict

    found = []
    if ctids:
        for ctid in ctids:
            valid_id(ctid)
            st = RunState.load(paths, ctid)
            if st is not None and st.alive():
                found.append(st)
            elif not strict:
                continue
            elif not paths.ct_config(ctid).is_file():
                raise NotFound(f"container {ctid} does not exist", hint="see 'hutch list -a'")
            else:
                raise StateConflict(f"container {ctid} is not running")
        return found
    directory = paths.run / "containers"
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        ctid = name[: -len(".json")]
        if not name.endswith(".json") or "." in ctid:  # ID.maxheld.json and the like
            continue
        try:
            st = RunState.load_file(directory / name)
        except StateConflict:
            continue  # `hutch list` and `status` name it; stats show what they can read
        if st is not None and st.alive():
            found.append(st)
    found.sort(key=lambda s: ids.sort_key(s.ctid))
    return found


class Sample:
    """One reading of a container's counters (`full`) or of its CPU counter only."""

    __slots__ = ("counters", "cpu_usec", "time")

    def __init__(self, cpu_usec: int | None, counters: CgroupCounters | None) -> None:
        self.time = time.monotonic()
        self.cpu_usec = cpu_usec
        self.counters = counters


def sample(st: RunState, full: bool) -> Sample:
    from hutch.cgroups.accounting import read_cgroup, read_cpu_usec

    cg = st.cgroups
    if not full:
        return Sample(read_cpu_usec(cg), None)
    counters = read_cgroup(cg)
    return Sample(counters.cpu_usec, counters)


def _rate(new: int | None, old: int | None, seconds: float) -> float | None:
    if new is None or old is None or seconds <= 0:
        return None
    return max(0, new - old) / seconds


def row(st: RunState, old: Sample | None, new: Sample, rates: bool) -> dict[str, object]:
    """What `hutch stats` shows of one container: `new` (a full sample), CPU% since `old`
    (None: not measured), with `rates` the IO rates over the interval too."""
    c = new.counters
    assert c is not None
    out: dict[str, object] = {"ctid": st.ctid}
    cpu = None
    if old is not None:
        per_s = _rate(new.cpu_usec, old.cpu_usec, new.time - old.time)
        cpu = None if per_s is None else round(per_s / 1e4, 1)  # usec/s -> % of one CPU
    out["cpu_percent"] = cpu
    out["cpu_seconds"] = None if c.cpu_usec is None else round(c.cpu_usec / 1e6, 2)
    out["memory"] = c.memory
    out["memory_limit"] = c.memory_limit
    out["tasks"] = c.pids
    out["tasks_limit"] = c.pids_limit
    out["io_read_bytes"] = c.io_read_bytes
    out["io_write_bytes"] = c.io_write_bytes
    if rates:
        prev = old.counters if old is not None else None
        seconds = new.time - old.time if old is not None else 0.0
        for key, attr in (("io_read_rate", "io_read_bytes"), ("io_write_rate", "io_write_bytes")):
            r = _rate(getattr(c, attr), getattr(prev, attr, None), seconds)
            out[key] = None if r is None else round(r)
    return out


def rows(states: list[RunState], seconds: float) -> list[dict[str, object]]:
    """A row per container, CPU% measured over `seconds` (0: left out), one sleep for all."""
    first: dict[str, Sample | None] = {st.ctid: None for st in states}
    if states and seconds > 0:
        first = {st.ctid: sample(st, full=False) for st in states}
        time.sleep(seconds)
    return [row(st, first[st.ctid], sample(st, full=True), rates=False) for st in states]
