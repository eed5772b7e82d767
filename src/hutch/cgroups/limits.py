"""One simple limits model, derived from a container's config (resources and OpenVZ UBCs).

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

from hutch.config import ContainerConfig, units

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


def _min(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def from_config(cfg: ContainerConfig) -> Limits:
    page = units.PAGE
    mem_b = mem_l = phys_b = phys_l = None
    if cfg.resources_memory:
        mem_b, mem_l = units.size_pair_bytes(cfg.resources_memory)
    if cfg.ubc_physpages:
        pb, pl = units.count_pair_values(cfg.ubc_physpages)
        phys_b = pb * page if pb is not None else None
        phys_l = pl * page if pl is not None else None
    memory_max = _min(mem_l, phys_l)
    barrier = _min(mem_b, phys_b)
    # a barrier at or above the limit is no soft limit (physpages may cap below --memory's)
    memory_high = (
        barrier if barrier is not None and (memory_max is None or barrier < memory_max) else None
    )

    swap = units.size_bytes(cfg.resources_swap) if cfg.resources_swap else None
    if cfg.ubc_swappages:
        _, sl = units.count_pair_values(cfg.ubc_swappages)
        swap = _min(swap, sl * page if sl is not None else None)

    quota = cfg.resources_cpulimit or None  # 0 means no cap, as in vzctl
    if cfg.resources_cpus:
        quota = _min(quota, cfg.resources_cpus * 100)

    pids = None
    if cfg.resources_numproc:
        _, pids = units.count_pair_values(cfg.resources_numproc)

    rules: dict[str, dict[str, int | None]] = {}
    for items, rate, keys in (
        (cfg.resources_iolimit, "size", ("rbps", "wbps")),
        (cfg.resources_iopslimit, "count", ("riops", "wiops")),
    ):
        for item in items or ():
            dev, r, w = units.io_rule_values(item, rate)
            rule = rules.setdefault(units.device_number(dev), {})
            rule[keys[0]], rule[keys[1]] = r, w
    return Limits(
        memory_max=memory_max,
        memory_high=memory_high,
        swap_max=swap,
        cpuunits=cfg.resources_cpuunits or DEFAULT_CPUUNITS,
        cpu_quota_pct=quota,
        cpuset=cfg.resources_cpuset,
        pids_max=pids,
        io_weight=IO_WEIGHT[cfg.resources_ioprio] if cfg.resources_ioprio is not None else None,
        io=tuple(IoRule(dev, **r) for dev, r in sorted(rules.items())),
    )
