"""cgroup v1 (and the hybrid layout): one directory per mounted hierarchy."""

from __future__ import annotations

from pathlib import Path

from hutch.cgroups import cpu, cpuset, devices, freezer, io, memory, pids
from hutch.cgroups.base import INNER, Cgroup, CgroupDriver, _mkdir
from hutch.cgroups.limits import Limits
from hutch.errors import KernelFeatureMissing

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.security.devices import DeviceRule

_CONTROLLERS = ((memory, "memory"), (cpu, "cpu"), (cpuset, "cpuset"), (pids, "pids"), (io, "blkio"))

_CONTROLLER_OPTS = {
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "blkio",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
}

# The hierarchy listed first is the primary one (processes are counted there).
_PREFERRED = ("pids", "memory", "cpu", "cpuacct", "cpuset", "blkio", "freezer", "devices")


def _mounted_hierarchies() -> list[tuple[str, Path, str]]:
    """(name, mountpoint, mount data) of every v1 hierarchy and of the hybrid cgroup2 one
    ("unified"); the data is what mounts the same hierarchy again ("cpu,cpuacct")."""
    found: list[tuple[str, Path, str]] = []
    with open("/proc/self/mounts") as f:
        for line in f:
            _src, mnt, fstype, opts, *_ = line.split()
            if fstype == "cgroup":
                names = [o for o in opts.split(",") if o in _PREFERRED or o.startswith("name=")]
                # co-mounted controllers (cpu,cpuacct) share one directory: keep the first name
                if names:
                    data = ",".join(
                        o for o in opts.split(",") if o in _CONTROLLER_OPTS or o.startswith("name=")
                    )
                    if data.startswith("name="):
                        data = "none," + data  # a named hierarchy without controllers
                    found.append((names[0], Path(mnt), data))
            elif fstype == "cgroup2":
                found.append(("unified", Path(mnt), ""))
    order = {n: i for i, n in enumerate(_PREFERRED)}
    found.sort(key=lambda h: order.get(h[0], len(order)))
    return found


class V1Driver(CgroupDriver):
    version = 1

    def __init__(self, subtree: str) -> None:
        super().__init__(subtree)
        mounted = _mounted_hierarchies()
        self._hier = [(name, mnt) for name, mnt, _ in mounted]
        self._mounts = [(mnt.name, data) for _, mnt, data in mounted]

    def hierarchies(self) -> list[tuple[str, Path]]:
        return list(self._hier)

    def container_mounts(self) -> list[tuple[str, str, str]]:
        # a read-only tmpfs holding one mount per hierarchy, as on the host
        out = [("", "tmpfs", "mode=755,size=64k")]
        for base, data in self._mounts:
            out.append((base, "cgroup2", "") if not data else (base, "cgroup", data))
        return out

    def find(self, ctid: str) -> Cgroup:
        return Cgroup(tuple((n, str(m / self.subtree / ctid)) for n, m in self._hier))

    def _create(self, ctid: str) -> Cgroup:
        cg = self.find(ctid)
        created: list[Path] = []
        try:
            for name, mnt in self._hier:
                top = mnt / self.subtree
                for group in (top, top / ctid, top / ctid / INNER):
                    if _mkdir(group):
                        created.append(group)
                    if name == "cpuset":
                        _inherit_cpuset(group)
                    elif name == "devices" and group == top / ctid:
                        # only possible before the inner group exists, which inherits it
                        devices.deny_all_v1(group)
        except BaseException:
            for path in reversed(created):
                try:
                    path.rmdir()
                except OSError:
                    pass
            raise
        return cg

    def apply(self, cg: Cgroup, limits: Limits) -> list[str]:
        warnings: list[str] = []
        if (group := cg.dir("cpuset")) is not None:
            cpuset.check_v1(group, limits)  # a refused setting changes nothing
        for module, hierarchy in _CONTROLLERS:
            group = cg.dir(hierarchy)
            if group is None:
                warnings.append(f"the {hierarchy} controller is not mounted: its limits are off")
                continue
            module.apply_v1(group, limits, warnings.append)
        return warnings

    def restrict_devices(self, cg: Cgroup, rules: tuple[DeviceRule, ...]) -> None:
        group = cg.dir("devices")
        if group is None:
            raise KernelFeatureMissing(
                "the devices cgroup controller is not mounted: hutch cannot limit devices"
            )
        devices.apply_v1(group, group / INNER, rules)

    def _freezer(self, cg: Cgroup) -> Path:
        group = cg.dir("freezer")
        if group is None:
            raise KernelFeatureMissing("freeze needs the freezer cgroup controller")
        return group

    def freeze(self, cg: Cgroup) -> None:
        freezer.freeze_v1(self._freezer(cg))

    def thaw(self, cg: Cgroup) -> None:
        freezer.thaw_v1(self._freezer(cg))

    def frozen(self, cg: Cgroup) -> bool:
        group = cg.dir("freezer")
        return group is not None and freezer.frozen_v1(group)


def _inherit_cpuset(group: Path) -> None:
    """A new v1 cpuset group starts with no CPUs and no memory nodes: copy the parent's."""
    for knob in ("cpuset.cpus", "cpuset.mems"):
        if not (group / knob).read_text().strip():
            (group / knob).write_text((group.parent / knob).read_text())
