"""dir: `<ctdir>/rootfs/` is a private copy of the template (nothing to mount)."""

from __future__ import annotations

from hutch.paths import Paths
from hutch.storage.backends.base import Backend, Rootfs, shift_tree


class DirBackend(Backend):
    name = "dir"
    data = "rootfs"
    root_on_host = True

    def make(self, paths: Paths, root: Rootfs) -> None:
        from hutch.storage import templates

        templates.install(paths, root.template, root.ctdir / "rootfs")
        shift_tree(str(root.ctdir / "rootfs"), None, root.idmap)
