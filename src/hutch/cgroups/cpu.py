"""cpu controller: OpenVZ cpuunits as the weight, cpulimit/cpus as the quota."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hutch.cgroups import knobs
from hutch.cgroups.limits import DEFAULT_CPUUNITS, Limits

PERIOD_US = 100_000


def shares_v1(cpuunits: int) -> int:
    """cpuunits 1000 (OpenVZ's default) is cpu.shares 1024 (the kernel's)."""
    return max(2, cpuunits * 1024 // DEFAULT_CPUUNITS)


def weight_v2(cpuunits: int) -> int:
    """cpuunits 1000 is cpu.weight 100 (the default); the kernel takes 1-10000."""
    return min(10000, max(1, round(cpuunits / 10)))


def _quota_us(lim: Limits) -> int | None:
    return None if lim.cpu_quota_pct is None else lim.cpu_quota_pct * PERIOD_US // 100


def apply_v1(group: Path, lim: Limits, warn: Callable[[str], None]) -> None:
    knobs.write(group, "cpu.shares", shares_v1(lim.cpuunits))
    if knobs.has(group, "cpu.cfs_quota_us"):
        knobs.write(group, "cpu.cfs_period_us", PERIOD_US)
        quota = _quota_us(lim)
        knobs.write(group, "cpu.cfs_quota_us", -1 if quota is None else quota)
    elif lim.cpu_quota_pct is not None:
        warn("cpulimit not enforced: the kernel has no CFS bandwidth control")


def apply_v2(group: Path, lim: Limits, warn: Callable[[str], None]) -> None:
    knobs.write(group, "cpu.weight", weight_v2(lim.cpuunits))
    quota = _quota_us(lim)
    knobs.write(group, "cpu.max", f"{'max' if quota is None else quota} {PERIOD_US}")
