"""`Host`: the context every operation receives (paths, cgroup driver), never a global."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from hutch.cgroups.base import CgroupDriver, detect
from hutch.paths import Paths


@dataclass
class Host:
    paths: Paths
    _driver: CgroupDriver | None = field(default=None, repr=False)

    @classmethod
    def from_root(cls, root: str | None = None) -> Host:
        return cls(Paths.from_env(root))

    @cached_property
    def cgroups(self) -> CgroupDriver:
        return self._driver or detect(self.paths.cgroup_name)

    def ensure_dirs(self) -> None:
        for d in (self.paths.etc, self.paths.containers, self.paths.log, self.paths.templates):
            d.mkdir(parents=True, exist_ok=True)
        for d in (self.paths.run / "containers", self.paths.run / "locks"):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
