"""cpuset controller: pin a container to CPUs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hutch.cgroups import knobs
from hutch.cgroups.base import INNER
from hutch.cgroups.limits import Limits


def cpulist_cpus(text: str) -> list[int]:
    """The CPUs of a list in the kernel's format (`0-1,3`: cpuset.cpus, and what
    hutch.config.units.parse_cpulist accepts)."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def _cpus(text: str) -> set[int]:
    return set(cpulist_cpus(text.strip())) if text.strip() else set()


def _fmt(cpus: set[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def check_v1(group: Path, lim: Limits) -> None:
    """Refuse CPUs the host (hutch's group) lacks: run before any limit is written, so a
    refused cpuset changes nothing."""
    parent = _cpus(knobs.read(group.parent, "cpuset.cpus") or "")
    if lim.cpuset and not _cpus(lim.cpuset) <= parent:
        raise_missing(_cpus(lim.cpuset) - parent)


def check_v2(group: Path, lim: Limits) -> None:
    if lim.cpuset and knobs.has(group, "cpuset.cpus"):
        online = _cpus(knobs.read(Path("/sys/devices/system/cpu"), "online") or "")
        if online and not _cpus(lim.cpuset) <= online:
            raise_missing(_cpus(lim.cpuset) - online)


def apply_v1(group: Path, lim: Limits, warn: Callable[[str], None]) -> None:
    check_v1(group, lim)
    parent = _cpus(knobs.read(group.parent, "cpuset.cpus") or "")
    want = _cpus(lim.cpuset) if lim.cpuset else parent
    # v1 keeps every child within its parent: widen the container's group to old+new, set
    # the inner group, then narrow the container's group to what is wanted
    old = _cpus(knobs.read(group, "cpuset.cpus") or "")
    knobs.write(group, "cpuset.cpus", _fmt(old | want))
    knobs.write(group / INNER, "cpuset.cpus", _fmt(want))
    knobs.write(group, "cpuset.cpus", _fmt(want))


def apply_v2(group: Path, lim: Limits, warn: Callable[[str], None]) -> None:
    if not knobs.has(group, "cpuset.cpus"):
        if lim.cpuset:
            warn("cpuset not enforced: the cpuset controller is not enabled for hutch")
        return
    check_v2(group, lim)
    knobs.write(group, "cpuset.cpus", lim.cpuset or "")


def raise_missing(cpus: set[int]) -> None:
    from hutch.errors import InvalidConfig

    raise InvalidConfig(f"cpuset: CPU {_fmt(cpus)} is not available on this host")
