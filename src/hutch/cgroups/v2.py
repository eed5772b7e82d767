"""cgroup v2: one unified hierarchy; controllers enabled down to the container group."""

from __future__ import annotations

from pathlib import Path

from hutch.cgroups.base import CGROUP_ROOT, INNER, Cgroup, CgroupDriver, _mkdir

WANTED = ("cpu", "cpuset", "io", "memory", "pids")


class V2Driver(CgroupDriver):
    version = 2

    def __init__(self, subtree: str, root: Path = CGROUP_ROOT) -> None:
        super().__init__(subtree)
        self.root = root

    def hierarchies(self) -> list[tuple[str, Path]]:
        return [("unified", self.root)]

    def find(self, ctid: str) -> Cgroup:
        return Cgroup((("unified", str(self.root / self.subtree / ctid)),))

    def _create(self, ctid: str) -> Cgroup:
        top = self.root / self.subtree
        made_top = _mkdir(top)
        try:
            # controllers flow down: hutch's subtree -> the container's group (limits) ->
            # its inner group (its cgroup namespace root, where a systemd inside delegates)
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


def _enable_controllers(group: Path) -> None:
    """Enable in `group`'s children whichever wanted controllers its parent hands down."""
    available = set((group / "cgroup.controllers").read_text().split())
    enabled = set((group / "cgroup.subtree_control").read_text().split())
    missing = [c for c in WANTED if c in available and c not in enabled]
    if missing:
        (group / "cgroup.subtree_control").write_text(" ".join("+" + c for c in missing))
