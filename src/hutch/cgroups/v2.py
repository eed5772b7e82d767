"""cgroup v2: one unified hierarchy; controllers enabled down to the container group."""

from __future__ import annotations

from pathlib import Path

from hutch.cgroups import cpu, cpuset, devices, freezer, io, knobs, memory, pids
from hutch.cgroups.base import CGROUP_ROOT, INNER, Cgroup, CgroupDriver, _mkdir
from hutch.cgroups.limits import Limits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.security.devices import DeviceRule

_CONTROLLERS = ((memory, "memory"), (cpu, "cpu"), (cpuset, "cpuset"), (pids, "pids"), (io, "io"))

WANTED = ("cpu", "cpuset", "io", "memory", "pids")


class V2Driver(CgroupDriver):
    version = 2

    def __init__(self, subtree: str, root: Path = CGROUP_ROOT) -> None:
        super().__init__(subtree)
        self.root = root

    def hierarchies(self) -> list[tuple[str, Path]]:
        return [("unified", self.root)]

    def container_mounts(self) -> list[tuple[str, str, str]]:
        return [("", "cgroup2", "")]

    def find(self, ctid: str) -> Cgroup:
        return Cgroup((("unified", str(self.root / self.subtree / ctid)),))

    def _create(self, ctid: str) -> Cgroup:
        top = self.root / self.subtree
        made_top = _mkdir(top)
        try:
            # controllers flow down: hutch's subtree -> the container's group (limits) ->
            # its inner group (its cgroup namespace root, where a systemd inside delegates)
            if top.parent == self.root:
                # a host without a systemd that already did it (a plain or minimal v2 host):
                # the root hands no controllers down until someone enables them
                _enable_controllers(self.root)
            _enable_controllers(top)
            _mkdir(top / ctid)
            _enable_controllers(top / ctid)
            _mkdir(top / ctid / INNER)
        except BaseException:
            for group in (top / ctid / INNER, top / ctid, top if made_top else None):
                if group is not None:
                    try:
                        group.rmdir()
                    except OSError:
                        pass
            raise
        return self.find(ctid)

    def apply(self, cg: Cgroup, limits: Limits) -> list[str]:
        warnings: list[str] = []
        group = cg.primary
        enabled = set((knobs.read(group, "cgroup.controllers") or "").split())
        if "cpuset" in enabled:
            cpuset.check_v2(group, limits)  # a refused setting changes nothing
        for module, controller in _CONTROLLERS:
            if controller not in enabled:
                warnings.append(
                    f"the {controller} controller is not available to hutch: its limits are off"
                )
                continue
            module.apply_v2(group, limits, warnings.append)
        return warnings

    def restrict_devices(self, cg: Cgroup, rules: tuple[DeviceRule, ...]) -> None:
        devices.apply_v2(cg.primary, rules)

    def freeze(self, cg: Cgroup) -> None:
        freezer.freeze_v2(cg.primary)

    def thaw(self, cg: Cgroup) -> None:
        freezer.thaw_v2(cg.primary)

    def frozen(self, cg: Cgroup) -> bool:
        return freezer.frozen_v2(cg.primary)


def _enable_controllers(group: Path) -> None:
    """Enable in `group`'s children whichever wanted controllers its parent hands down."""
    available = set((group / "cgroup.controllers").read_text().split())
    enabled = set((group / "cgroup.subtree_control").read_text().split())
    missing = [c for c in WANTED if c in available and c not in enabled]
    if missing:
        (group / "cgroup.subtree_control").write_text(" ".join("+" + c for c in missing))
