"""Block IO: OpenVZ ioprio as a weight, and per-device bandwidth / IOPS throttling."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hutch.cgroups import knobs
from hutch.cgroups.limits import Limits

_V1_THROTTLE = {
    "rbps": "blkio.throttle.read_bps_device",
    "wbps": "blkio.throttle.write_bps_device",
    "riops": "blkio.throttle.read_iops_device",
    "wiops": "blkio.throttle.write_iops_device",
}


def _devices(text: str | None) -> set[str]:
    return {line.split()[0] for line in (text or "").splitlines() if line.strip()}


def apply_v1(group: Path, lim: Limits, warn: Callable[[str], None]) -> None:
    if lim.io_weight is not None:
        knob = next((k for k in ("blkio.bfq.weight", "blkio.weight") if knobs.has(group, k)), None)
        if knob is None:
            warn("ioprio not enforced: no proportional IO scheduler (BFQ) for the cgroup")
        else:
            knobs.write(group, knob, min(1000, lim.io_weight * 5))
    for field, knob in _V1_THROTTLE.items():
        wanted = {r.device: getattr(r, field) for r in lim.io}
        for dev in _devices(knobs.read(group, knob)) - set(wanted):
            knobs.write(group, knob, f"{dev} 0")  # 0 removes the rule
        for dev, value in wanted.items():
            knobs.write(group, knob, f"{dev} {value or 0}")


def apply_v2(group: Path, lim: Limits, warn: Callable[[str], None]) -> None:
    if lim.io_weight is not None:
        knob = next((k for k in ("io.weight", "io.bfq.weight") if knobs.has(group, k)), None)
        if knob is None:
            warn("ioprio not enforced: the io controller has no weight here")
        else:
            knobs.write(group, knob, f"default {lim.io_weight}")
    if not knobs.has(group, "io.max"):
        if lim.io:
            warn("iolimit not enforced: the io controller is not enabled for hutch")
        return
    wanted = {r.device for r in lim.io}
    for dev in _devices(knobs.read(group, "io.max")) - wanted:
        knobs.write(group, "io.max", f"{dev} rbps=max wbps=max riops=max wiops=max")
    for r in lim.io:
        fields = " ".join(
            f"{name}={'max' if getattr(r, name) is None else getattr(r, name)}"
            for name in ("rbps", "wbps", "riops", "wiops")
        )
        knobs.write(group, "io.max", f"{r.device} {fields}")
