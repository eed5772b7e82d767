"""Control groups: one interface, two drivers (v1 hybrid, v2 unified), picked by probing.

Every container gets one group named `<subtree>/<ctid>` (subtree `hutch`, or `hutch-<hash>`
for another hutch root) in each hierarchy hutch uses. hutch never writes to a group it did
not create.
"""

from hutch.cgroups.base import Cgroup, CgroupDriver

__all__ = ["Cgroup", "CgroupDriver", "detect"]


def __getattr__(name: str) -> object:
    # `detect` (hutch.cgroups.driver) loaded on first use: the CLI's hot verbs import
    # hutch.cgroups.base, and with it this package, but never pick a driver
    if name == "detect":
        from hutch.cgroups.driver import detect

        return detect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
