"""From a container's config to the cgroup limits model (hutch.cgroups.limits): the one place
where resources and OpenVZ UBCs become kernel limits. hutch.cgroups takes the plain `Limits`;
this translation lives above it (ARCHITECTURE.md, layers)."""

from __future__ import annotations

from hutch.cgroups.limits import DEFAULT_CPUUNITS, IO_WEIGHT, IoRule, Limits
from hutch.config import ContainerConfig, units


def _min(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def from_config(cfg: ContainerConfig) -> Limits:
    page = units.PAGE
    mem_b = mem_l = phys_b = phys_l = None
    if cfg.resources_memory is not None:
        mem_b, mem_l = cfg.resources_memory.barrier, cfg.resources_memory.limit
    if cfg.ubc_physpages is not None:
        pb, pl = cfg.ubc_physpages.barrier, cfg.ubc_physpages.limit
        phys_b = pb * page if pb is not None else None
        phys_l = pl * page if pl is not None else None
    memory_max = _min(mem_l, phys_l)
    barrier = _min(mem_b, phys_b)
    # a barrier at or above the limit is no soft limit (physpages may cap below --memory's)
    memory_high = (
        barrier if barrier is not None and (memory_max is None or barrier < memory_max) else None
    )

    swap = cfg.resources_swap  # bytes; None: unset or unlimited
    if cfg.ubc_swappages is not None:
        sl = cfg.ubc_swappages.limit
        swap = _min(swap, sl * page if sl is not None else None)

    quota = cfg.resources_cpulimit or None  # 0 means no cap, as in vzctl
    if cfg.resources_cpus:
        quota = _min(quota, cfg.resources_cpus * 100)

    pids = None
    if cfg.resources_numproc is not None:
        pids = cfg.resources_numproc.limit

    rules: dict[str, dict[str, int | None]] = {}
    for items, keys in (
        (cfg.resources_iolimit, ("rbps", "wbps")),
        (cfg.resources_iopslimit, ("riops", "wiops")),
    ):
        for item in items or ():
            rule = rules.setdefault(units.device_number(item.device), {})
            rule[keys[0]], rule[keys[1]] = item.read, item.write
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
