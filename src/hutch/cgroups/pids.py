"""pids controller: the number of tasks (OpenVZ NUMPROC)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hutch.cgroups import knobs
from hutch.cgroups.limits import Limits


def apply(group: Path, lim: Limits, warn: Callable[[str], None]) -> None:
    knobs.write(group, "pids.max", "max" if lim.pids_max is None else lim.pids_max)


apply_v1 = apply_v2 = apply
