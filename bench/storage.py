"""Rootfs backends side by side with LXC: create and clone time, disk used per container.

    /opt/hutch/venv/bin/python bench/storage.py [--runs N] [--json]

Per run, in private roots (hutch `--root`, LXC `-P`), all removed at exit:

* create: `hutch create --backend dir|overlay|image` against `lxc-create -t busybox` (dir);
* clone of a stopped container: `hutch clone` (per backend) against
  `lxc-copy -s -B overlay` (LXC's overlay snapshot clone);
* disk: `du -sk` of each container's directory (allocated blocks; the shared template
  layer of overlay containers is counted once, separately).

Medians of N runs; ratios hutch/LXC (lower is better for hutch).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from lifecycle import (
    Hutch,
    Lxc,
    log,
    peer_tools,
    ratio,
    run,
)

BACKENDS = ("dir", "overlay", "image")


def du_kib(path: Path) -> int | None:
    p = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=False)
    return int(p.stdout.split()[0]) if p.returncode == 0 else None


def timed(argv: list[str], env: dict[str, str]) -> float | None:
    o = run(argv, env)
    if not o.ok:
        log(f"FAILED: {o.error}")
        return None
    return o.ms


def median(values: list[Any]) -> float | None:
    good = [v for v in values if v is not None]
    return round(statistics.median(good), 1) if good and len(good) == len(values) else None


def measure(hutch: Hutch, lxc: Lxc, runs: int) -> dict[str, Any]:
    samples: dict[str, list[Any]] = {}

    def add(key: str, value: Any) -> None:
        samples.setdefault(key, []).append(value)

    h = ["/opt/hutch/venv/bin/hutch", "--root", str(hutch.base)]
    cts = hutch.base / "var/lib/hutch/containers"
    for i in range(runs):
        for b in BACKENDS:
            src, dst = f"s{b}{i}", f"c{b}{i}"
            add(f"hutch create {b}", timed([*h, "create", src, "--backend", b], hutch.env))
            add(f"hutch clone {b}", timed([*h, "clone", src, dst], hutch.env))
            add(f"hutch disk {b}", du_kib(cts / src))
            add(f"hutch disk clone {b}", du_kib(cts / dst))
            for ct in (src, dst):
                hutch.step("destroy", ct)
        src, dst = lxc.ct_name(f"s{i}"), lxc.ct_name(f"c{i}")
        add("lxc create dir", timed(lxc.argv("create", src), lxc.env))
        copy = ["lxc-copy", "-P", str(lxc.base), "-n", src, "-N", dst, "-s", "-B", "overlay"]
        add("lxc clone overlay", timed(copy, lxc.env))
        add("lxc disk dir", du_kib(lxc.base / src))
        add("lxc disk clone overlay", du_kib(lxc.base / dst))
        for ct in (dst, src):
            lxc.step("destroy", ct)
    out = {k: median(v) for k, v in samples.items()}
    out["hutch template layer busybox"] = du_kib(hutch.base / "var/cache/hutch/unpacked/busybox")
    return out


def table(m: dict[str, Any]) -> list[str]:
    rows = [
        ("create dir (ms)", "hutch create dir", "lxc create dir"),
        ("create overlay (ms)", "hutch create overlay", "lxc create dir"),
        ("create image (ms)", "hutch create image", "lxc create dir"),
        ("clone dir (ms)", "hutch clone dir", None),
        ("clone overlay (ms)", "hutch clone overlay", "lxc clone overlay"),
        ("clone image (ms)", "hutch clone image", None),
        ("disk dir (KiB)", "hutch disk dir", "lxc disk dir"),
        ("disk overlay (KiB)", "hutch disk overlay", None),
        ("disk image (KiB)", "hutch disk image", None),
        ("disk overlay clone (KiB)", "hutch disk clone overlay", "lxc disk clone overlay"),
    ]
    lines = [f"{'':<26} {'hutch':>9} {'lxc':>9} {'ratio':>7}"]
    for label, hk, lk in rows:
        hv, lv = m.get(hk), m.get(lk) if lk else None
        r = ratio(hv, lv) if lk else None
        lines.append(f"{label:<26} {_f(hv):>9} {_f(lv):>9} {'-' if r is None else f'{r:.2f}':>7}")
    lines.append(f"(shared busybox template layer: {m.get('hutch template layer busybox')} KiB)")
    return lines


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:g}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with peer_tools() as (hutch, lxc, _env):
        m = measure(hutch, lxc, args.runs)
    if args.json:
        json.dump(m, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print("\n".join(table(m)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
