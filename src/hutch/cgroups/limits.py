"""One simple limits model, which hutch.container.limits derives from a container's config
(resources and OpenVZ UBCs).

OpenVZ's beancounters were powerful but notoriously complex; hutch keeps one small set of
kernel limits and maps every name onto it:

    memory / PHYSPAGES   -> memory limit (barrier -> soft limit / memory.high)
    swap / SWAPPAGES     -> swap limit
    numproc / NUMPROC    -> pids limit
    cpuunits             -> CPU weight;  cpulimit, cpus -> CPU quota;  cpuset -> CPU pinning
    ioprio               -> IO weight;   iolimit, iopslimit -> per-device throttling
    every other UBC      -> accounting only (shown by `hutch beancounters`)
"""

from __future__ import annotations

from dataclasses import dataclass

# ioprio 0-7 (OpenVZ's default 4) -> cgroup v2 io.weight (default 100); v1 uses 5x (10-1000)
IO_WEIGHT = (10, 25, 50, 75, 100, 200, 400, 800)
DEFAULT_CPUUNITS = 1000


@dataclass(frozen=True)
class IoRule:
    device: str  # MAJOR:MINOR
    rbps: int | None = None
    wbps: int | None = None
    riops: int | None = None
    wiops: int | None = None


@dataclass(frozen=True)
class Limits:
    memory_max: int | None = None
    memory_high: int | None = None
    swap_max: int | None = None
    cpuunits: int = DEFAULT_CPUUNITS
    cpu_quota_pct: int | None = None
    cpuset: str | None = None
    pids_max: int | None = None
    io_weight: int | None = None
    io: tuple[IoRule, ...] = ()
