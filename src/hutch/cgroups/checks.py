"""`hutch checkconfig`'s Control groups section: what this host's cgroups offer."""

from __future__ import annotations

from hutch.cgroups.base import CGROUP_ROOT
from hutch.host.features import Check


def control_groups() -> list[Check]:
    """The hierarchy this host mounts and the controllers hutch uses."""
    out: list[Check] = []
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        ctrls = set((CGROUP_ROOT / "cgroup.controllers").read_text().split())
        out.append(Check("Control groups", "cgroup v2 (unified)", "enabled"))
    else:
        ctrls = set()
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if parts[2] == "cgroup":
                    ctrls |= set(parts[3].split(","))
        out.append(Check("Control groups", "cgroup v1 (hybrid)", "enabled" if ctrls else "missing"))
    for c, name in (
        ("memory", "Cgroup memory controller"),
        ("cpu", "Cgroup cpu controller"),
        ("cpuset", "Cgroup cpuset"),
        ("pids", "Cgroup pids controller"),
        ("freezer", "Cgroup freezer"),
        ("devices", "Cgroup device"),
    ):
        if c in ("freezer", "devices") and (CGROUP_ROOT / "cgroup.controllers").exists():
            continue  # v2: freezing is built in, devices go through eBPF
        out.append(Check("Control groups", name, "enabled" if c in ctrls else "missing"))
    io = "io" if (CGROUP_ROOT / "cgroup.controllers").exists() else "blkio"
    out.append(
        Check(
            "Control groups",
            "Cgroup block IO",
            "enabled" if io in ctrls else "optional",
            "" if io in ctrls else "no --ioprio / --iolimit",
        )
    )
    return out
