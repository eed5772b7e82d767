"""Control groups: one interface, two drivers (v1 hybrid, v2 unified), picked by probing.

Every container gets one group named `<subtree>/<ctid>` (subtree `hutch`, or `hutch-<hash>`
for another hutch root) in each hierarchy hutch uses. hutch never writes to a group it did
not create.
"""

from hutch.cgroups.base import Cgroup, CgroupDriver
from hutch.cgroups.driver import detect

__all__ = ["Cgroup", "CgroupDriver", "detect"]
