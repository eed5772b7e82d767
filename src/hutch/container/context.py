"""`HostContext`: what every operation receives (paths, cgroup driver), never a global.

The public `hutch.Host` (hutch.container.host) is one; the modules that do the work take
this base, so they need nothing of the library's face above them.
"""

from __future__ import annotations

import os
from functools import cached_property

from hutch.cgroups.base import CgroupDriver
from hutch.paths import Paths


class HostContext:
    def __init__(self, paths: Paths, cgroups: CgroupDriver | None = None) -> None:
        self.paths = paths
        self._driver = cgroups
        # the inits this process started (hutch.Container.start), by ID: their pid, to reap
        # them, and the console master, held until they stop (hutchd gives an adopted one
        # a console of its own)
        self.children: dict[str, tuple[int, int | None]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.paths.root)!r})"

    @cached_property
    def cgroups(self) -> CgroupDriver:
        from hutch.cgroups.driver import detect  # on first use: list and exec need none

        return self._driver or detect(self.paths.cgroup_name)

    def keep_child(self, ctid: str, pid: int, console: int | None) -> None:
        self.release_child(ctid)
        self.children[ctid] = (pid, console)

    def release_child(self, ctid: str) -> None:
        """Reap `ctid`'s init if it is our child and has exited; let go of its console."""
        pid, console = self.children.pop(ctid, (0, None))
        if console is not None:
            os.close(console)
        if pid:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass  # reaped already, or never ours

    def reap_children(self) -> None:
        """Collect the inits of ours that exited on their own (a poweroff inside)."""
        for ctid, (pid, _console) in list(self.children.items()):
            try:
                done = os.waitpid(pid, os.WNOHANG)[0] != 0
            except ChildProcessError:
                done = True
            if done:
                self.children[ctid] = (0, _console)
                self.release_child(ctid)

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
