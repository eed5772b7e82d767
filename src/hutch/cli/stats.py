"""hutch stats [ID...] [--json] [--watch [SECONDS]] — what running containers use now.

CPU% (of one CPU) comes from two samples of each container's CPU counter: one sleep for all
containers at once. Everything is read straight from the cgroup files: no daemon, no config.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from hutch.cli import common

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.accounting import CgroupCounters
    from hutch.container.state import RunState
    from hutch.paths import Paths

SAMPLE = 0.5  # seconds between the two CPU samples without --watch

_UNITS = "KMGTPE"


def human_size(n: int | None) -> str:
    """1536 -> 1.5K, 12_900_000 -> 12.3M; bytes below 1K as they are."""
    if n is None:
        return "-"
    if n < 1024:
        return f"{n}B"
    value = float(n)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f}{unit}"
    raise AssertionError("unreachable")


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("ctids", nargs="*", metavar="ID", help="only these containers (default: all)")
    p.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=1.0,
        metavar="SECONDS",
        help="redraw every SECONDS (default 1) until Ctrl-C, with rates over the interval",
    )
    p.add_argument(
        "--sample",
        type=float,
        default=SAMPLE,
        metavar="SECONDS",
        help=f"how long to measure CPU%% over (default {SAMPLE}); 0 reads the counters once "
        "and leaves CPU%% out (for scripts that poll)",
    )
    common.add_json(p)


# -- which containers ------------------------------------------------------------------------


def running_states(paths: Paths, ctids: list[str], strict: bool = True) -> list[RunState]:
    """The runtime state of these containers (all running ones when none is named).

    A named container that does not exist or does not run is an error when `strict`, else
    left out."""
    from hutch import ids
    from hutch.container.ctid import valid_id
    from hutch.container.state import RunState
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


# -- sampling --------------------------------------------------------------------------------


class _Sample:
    __slots__ = ("counters", "cpu_usec", "time")

    def __init__(self, cpu_usec: int | None, counters: CgroupCounters | None) -> None:
        self.time = time.monotonic()
        self.cpu_usec = cpu_usec
        self.counters = counters


def _sample(st: RunState, full: bool) -> _Sample:
    from hutch.cgroups.accounting import read_cgroup, read_cpu_usec

    cg = st.cgroups
    if not full:
        return _Sample(read_cpu_usec(cg), None)
    counters = read_cgroup(cg)
    return _Sample(counters.cpu_usec, counters)


def _rate(new: int | None, old: int | None, seconds: float) -> float | None:
    if new is None or old is None or seconds <= 0:
        return None
    return max(0, new - old) / seconds


def _row(st: RunState, old: _Sample | None, new: _Sample, rates: bool) -> dict[str, object]:
    c = new.counters
    assert c is not None
    row: dict[str, object] = {"ctid": st.ctid}
    cpu = None
    if old is not None:
        per_s = _rate(new.cpu_usec, old.cpu_usec, new.time - old.time)
        cpu = None if per_s is None else round(per_s / 1e4, 1)  # usec/s -> % of one CPU
    row["cpu_percent"] = cpu
    row["cpu_seconds"] = None if c.cpu_usec is None else round(c.cpu_usec / 1e6, 2)
    row["memory"] = c.memory
    row["memory_limit"] = c.memory_limit
    row["tasks"] = c.pids
    row["tasks_limit"] = c.pids_limit
    row["io_read_bytes"] = c.io_read_bytes
    row["io_write_bytes"] = c.io_write_bytes
    if rates:
        prev = old.counters if old is not None else None
        seconds = new.time - old.time if old is not None else 0.0
        for key, attr in (("io_read_rate", "io_read_bytes"), ("io_write_rate", "io_write_bytes")):
            r = _rate(getattr(c, attr), getattr(prev, attr, None), seconds)
            row[key] = None if r is None else round(r)
    return row


def _table(rows: list[dict[str, object]], rates: bool) -> str:
    io = ("IO_R/s", "IO_W/s") if rates else ("IO_READ", "IO_WRITE")
    head = ("CTID", "CPU%", "MEM", "MEMLIMIT", "TASKS", "NUMPROC", *io)
    fmt = "{:>10} {:>6} {:>8} {:>8} {:>6} {:>7} {:>8} {:>8}"
    lines = [fmt.format(*head)]
    for r in rows:
        cpu = r["cpu_percent"]
        ioc = ("io_read_rate", "io_write_rate") if rates else ("io_read_bytes", "io_write_bytes")
        lines.append(
            fmt.format(
                r["ctid"],
                "-" if cpu is None else f"{cpu:.1f}",
                human_size(r["memory"]),  # type: ignore[arg-type]
                human_size(r["memory_limit"]),  # type: ignore[arg-type]
                "-" if r["tasks"] is None else r["tasks"],
                "-" if r["tasks_limit"] is None else r["tasks_limit"],
                human_size(r[ioc[0]]),  # type: ignore[arg-type]
                human_size(r[ioc[1]]),  # type: ignore[arg-type]
            )
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from hutch.errors import UsageError

    paths = common.paths(args)
    ctids = [common.valid_id(c) for c in args.ctids]
    if args.watch is not None:
        if args.watch <= 0:
            raise UsageError("--watch needs a positive number of seconds")
        try:
            _watch(paths, ctids, args.watch, args.json)
        except KeyboardInterrupt:
            pass
        return 0
    if args.sample < 0:
        raise UsageError("--sample needs 0 or more seconds")
    states = running_states(paths, ctids)
    first: dict[str, _Sample | None] = {st.ctid: None for st in states}
    if states and args.sample > 0:
        first = {st.ctid: _sample(st, full=False) for st in states}
        time.sleep(args.sample)  # one sleep for every container
    rows = [_row(st, first[st.ctid], _sample(st, full=True), rates=False) for st in states]
    if args.json:
        common.print_json(rows)
    else:
        print(_table(rows, rates=False))
    return 0


def _watch(paths: Paths, ctids: list[str], seconds: float, as_json: bool) -> None:
    import json

    states = running_states(paths, ctids)  # named ones must run at first
    last = {st.ctid: _sample(st, full=True) for st in states}
    clear = sys.stdout.isatty() and not as_json
    while True:
        time.sleep(seconds)
        states = running_states(paths, ctids, strict=False)
        now = {st.ctid: _sample(st, full=True) for st in states}
        rows = [_row(st, last.get(st.ctid), now[st.ctid], rates=True) for st in states]
        last = now
        if as_json:
            out = json.dumps({"time": round(time.time(), 3), "containers": rows}, sort_keys=True)
        else:
            out = ("\x1b[H\x1b[J" if clear else "") + _table(rows, rates=True) + "\n"
        sys.stdout.write(out + ("\n" if as_json else ""))
        sys.stdout.flush()
