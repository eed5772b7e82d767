"""hutch's accounting views over many running containers, side by side with LXC.

    /opt/hutch/venv/bin/python bench/accounting.py [--containers K] [--runs N] [--json]

K containers (default 50) run under each tool; each view is timed as whole processes:

* all containers: `hutch stats` (one process, every container) against `lxc-info` run once
  per container (LXC has no all-containers stats command), and `hutch beancounters`;
* all containers, one line each: `hutch list -o ctid,status,tasks,mem,cpu` against
  `lxc-ls -f`;
* one container: `hutch stats ID` against `lxc-info -n ID`.

Medians over N runs, and hutch/LXC ratios (lower is better for hutch). Shares its tool
classes and clean-up with bench/lifecycle.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lifecycle import (
    Hutch,
    Lxc,
    log,
    lxc_version,
    peer_tools,
    ratio,
    run,
    start_many,
)


def timed(argvs: list[list[str]], env: dict[str, str]) -> float | None:
    """Wall time of running these commands one after another, in ms; None if one failed."""
    t0 = time.perf_counter()
    for argv in argvs:
        o = run(argv, env)
        if not o.ok:
            log(f"FAILED {' '.join(argv)}: {o.error}")
            return None
    return (time.perf_counter() - t0) * 1000


def median(values: list[float | None]) -> float | None:
    good = [v for v in values if v is not None]
    return round(statistics.median(good), 1) if good and len(good) == len(values) else None


def views(
    hutch: Hutch, lxc: Lxc, h_names: list[str], x_names: list[str]
) -> dict[str, tuple[list[list[str]], list[list[str]] | None]]:
    hroot = ["--root", str(hutch.base)]
    hcmd = hutch.argv("list", "")[0]
    lxc_info = [["lxc-info", "-P", str(lxc.base), "-n", n] for n in x_names]
    return {
        f"stats --sample 0, all {len(h_names)}": (
            [[hcmd, *hroot, "stats", "--sample", "0", "--json"]],
            lxc_info,
        ),
        f"stats (CPU% over 0.5 s), all {len(h_names)}": (
            [[hcmd, *hroot, "stats", "--json"]],
            lxc_info,
        ),
        f"beancounters, all {len(h_names)}": ([[hcmd, *hroot, "beancounters", "--json"]], lxc_info),
        f"list with counters, all {len(h_names)}": (
            [[hcmd, *hroot, "list", "-o", "ctid,status,tasks,mem,cpu"]],
            [["lxc-ls", "-P", str(lxc.base), "-f"]],
        ),
        "stats --sample 0, one container": (
            [[hcmd, *hroot, "stats", "--sample", "0", h_names[0], "--json"]],
            lxc_info[:1],
        ),
    }


def measure(hutch: Hutch, lxc: Lxc, k: int, runs: int, env: dict[str, str]) -> dict[str, Any]:
    log(f"starting {k} containers per tool")
    h_names, h_err = start_many(hutch, k)
    x_names, x_err = start_many(lxc, k)
    if h_err or x_err or not h_names or not x_names:
        raise SystemExit("could not start the containers: " + "; ".join(h_err + x_err)[:500])
    table = {}
    for label, (h_cmds, x_cmds) in views(hutch, lxc, h_names, x_names).items():
        h_times, x_times = [], []
        for i in range(runs + 1):  # the first round warms caches and is not counted
            ht = timed(h_cmds, env)
            xt = timed(x_cmds, env) if x_cmds else None
            if i:
                h_times.append(ht)
                x_times.append(xt)
        h, x = median(h_times), median(x_times)
        table[label] = {"hutch_ms": h, "lxc_ms": x, "ratio": ratio(h, x)}
        log(f"{label}: hutch {h} ms, LXC {x} ms")
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--containers", "-k", type=int, default=50)
    p.add_argument("--runs", "-n", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with peer_tools() as (hutch, lxc, env):
        table = measure(hutch, lxc, args.containers, args.runs, env)
    out = sys.stderr if args.json else sys.stdout
    print(
        f"\nhutch vs LXC {lxc_version()}: accounting over {args.containers} running "
        f"containers, medians of {args.runs} runs, kernel {os.uname().release}",
        file=out,
    )
    print(f"{'view':<34}{'hutch ms':>10}{'LXC ms':>10}{'h/LXC':>7}", file=out)
    for label, row in table.items():
        cells = [f"{row[k]:.1f}" if row[k] is not None else "-" for k in ("hutch_ms", "lxc_ms")]
        r = f"{row['ratio']:.2f}" if row["ratio"] is not None else "-"
        print(f"{label:<34}{cells[0]:>10}{cells[1]:>10}{r:>7}", file=out)
    print(
        "LXC column: lxc-info once per container where LXC has no all-containers view; "
        "lxc-ls -f for the list.",
        file=out,
    )
    if args.json:
        json.dump(
            {"containers": args.containers, "runs": args.runs, "views": table}, sys.stdout, indent=2
        )
        print()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    raise SystemExit(main())
