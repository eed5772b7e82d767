"""`Host`: the context every operation receives (paths, cgroup driver), never a global."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

from hutch.cgroups.base import CgroupDriver
from hutch.cgroups.driver import detect
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
        for d in (self.paths.etc, self.paths.templates):
            d.mkdir(parents=True, exist_ok=True)
        # root only: a container's rootfs (its setuid binaries, its files owned by mapped
        # uids) and its console log must be out of reach of the host's other users
        for d in (self.paths.containers, self.paths.log):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            if d.stat().st_mode & 0o077:
                os.chmod(d, 0o700)
        for d in (self.paths.run / "containers", self.paths.run / "locks"):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
