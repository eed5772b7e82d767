"""memory controller: limit, soft limit (barrier), swap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hutch.cgroups import knobs
from hutch.cgroups.limits import Limits


def apply_v1(group: Path, lim: Limits, warn: Callable[[str], None]) -> None:
    memsw = knobs.has(group, "memory.memsw.limit_in_bytes")
    # memory+swap may never be below memory alone: lift it first, set memory, then it
    if memsw:
        knobs.write(group, "memory.memsw.limit_in_bytes", -1)
    knobs.write(group, "memory.limit_in_bytes", -1 if lim.memory_max is None else lim.memory_max)
    knobs.write(
        group, "memory.soft_limit_in_bytes", -1 if lim.memory_high is None else lim.memory_high
    )
    if lim.swap_max is not None:
        if not memsw:
            warn("swap limit not enforced: the kernel has no swap accounting (swapaccount=1)")
        elif lim.memory_max is None:
            warn("swap limit not enforced without a memory limit (cgroup v1 limits memory+swap)")
        else:
            knobs.write(group, "memory.memsw.limit_in_bytes", lim.memory_max + lim.swap_max)


def apply_v2(group: Path, lim: Limits, warn: Callable[[str], None]) -> None:
    knobs.write(group, "memory.max", "max" if lim.memory_max is None else lim.memory_max)
    knobs.write(group, "memory.high", "max" if lim.memory_high is None else lim.memory_high)
    if knobs.has(group, "memory.swap.max"):
        knobs.write(group, "memory.swap.max", "max" if lim.swap_max is None else lim.swap_max)
    elif lim.swap_max is not None:
        warn("swap limit not enforced: the kernel has no swap controller")
