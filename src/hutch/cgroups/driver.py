"""The cgroup driver of this host, picked by probing. Apart from hutch.cgroups.base because it
knows both drivers, and they build on base."""

from __future__ import annotations

from hutch.cgroups.base import CGROUP_ROOT, CgroupDriver


def detect(subtree: str) -> CgroupDriver:
    """Pick the driver for this host: pure v2 when the root is cgroup2, else v1."""
    # each driver imported only when it is the one: a v2 host never loads v1's code
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        from hutch.cgroups.v2 import V2Driver

        return V2Driver(subtree)
    from hutch.cgroups.v1 import V1Driver

    return V1Driver(subtree)
