"""hutch stats [ID...] [--json] [--watch [SECONDS]] — what running containers use now.

CPU% (of one CPU) comes from two samples of each container's CPU counter: one sleep for all
containers at once. Everything is read straight from the cgroup files: no daemon, no config
(hutch.container.stats, the library's).
"""

from __future__ import annotations

import argparse
import sys
import time

from hutch.cli import common

TYPE_CHECKING = False
if TYPE_CHECKING:
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
    from hutch.container import stats
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
    rows = stats.rows(stats.running_states(paths, ctids), args.sample)
    if args.json:
        common.print_json(rows)
    else:
        print(_table(rows, rates=False))
    return 0


def _watch(paths: Paths, ctids: list[str], seconds: float, as_json: bool) -> None:
    import json

    from hutch.container.stats import row, running_states, sample

    states = running_states(paths, ctids)  # named ones must run at first
    last = {st.ctid: sample(st, full=True) for st in states}
    clear = sys.stdout.isatty() and not as_json
    while True:
        time.sleep(seconds)
        states = running_states(paths, ctids, strict=False)
        now = {st.ctid: sample(st, full=True) for st in states}
        rows = [row(st, last.get(st.ctid), now[st.ctid], rates=True) for st in states]
        last = now
        if as_json:
            out = json.dumps({"time": round(time.time(), 3), "containers": rows}, sort_keys=True)
        else:
            out = ("\x1b[H\x1b[J" if clear else "") + _table(rows, rates=True) + "\n"
        sys.stdout.write(out + ("\n" if as_json else ""))
        sys.stdout.flush()
