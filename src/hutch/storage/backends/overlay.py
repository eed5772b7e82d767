"""overlay: `<ctdir>/upper/` and `work/` over the template unpacked once, read-only, under
`<cache>/unpacked/<template>`, the lower layer shared by every container made from it.

The overlay is mounted by the container's init in its own mount namespace
(`OverlayRoot.execute`, before the bind and pivot_root): the host never sees it.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from hutch.errors import KernelFeatureMissing, OperationFailed
from hutch.paths import Paths
from hutch.storage.backends.base import (
    Backend,
    Rootfs,
    RootMount,
    remove_tree,
    shift_tree,
    unpacked,
)


class OverlayBackend(Backend):
    name = "overlay"
    data = "upper"
    shares_template = True

    def make(self, paths: Paths, root: Rootfs) -> None:
        ctdir = root.ctdir
        unpacked(paths, root.template)
        (ctdir / "rootfs").mkdir(mode=0o755)
        (ctdir / "upper").mkdir(mode=0o755)
        (ctdir / "work").mkdir(mode=0o700)
        (ctdir / "lower").mkdir(mode=0o700)
        shift_tree(str(ctdir / "upper"), None, root.idmap)  # the root directory inside

    def skeleton(self, ctdir: Path) -> None:
        super().skeleton(ctdir)
        (ctdir / "work").mkdir(mode=0o700, exist_ok=True)
        (ctdir / "lower").mkdir(mode=0o700, exist_ok=True)

    def receive(self, paths: Paths, root: Rootfs) -> None:
        self.skeleton(root.ctdir)
        unpacked(paths, root.template)

    def restored(self, ctdir: Path) -> None:
        # the work dir belongs to the old upper
        remove_tree(ctdir / "work")
        (ctdir / "work").mkdir(mode=0o700)

    def root_mount(self, paths: Paths, root: Rootfs) -> OverlayRoot:
        ctdir = root.ctdir
        lower = paths.cache / "unpacked" / root.template
        if not lower.is_dir():
            raise OperationFailed(
                f"container {root.ctid}: its template layer {lower} is missing",
                hint="recreate it with the same template, or restore the cache",
            )
        return OverlayRoot(
            str(lower), str(ctdir / "upper"), str(ctdir / "work"), str(ctdir / "lower")
        )


# -- mounting it at start (in the container's mount namespace) -----------------------------


def _escape(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


@dataclass(frozen=True)
class OverlayRoot(RootMount):
    lower: str
    upper: str
    work: str
    # where an unprivileged container's idmapped view of `lower` is attached first
    mapped: str = ""

    def describe(self) -> str:
        return f"mount overlay (lower {self.lower}, upper {self.upper}) on the rootfs"

    def options(self, lower: str | None = None) -> str:
        return ",".join(
            f"{k}={_escape(Path(v))}"
            for k, v in (
                ("lowerdir", lower or self.lower),
                ("upperdir", self.upper),
                ("workdir", self.work),
            )
        )

    def execute(self, target: str, userns: int | None = None) -> None:
        from hutch.linux import syscalls as sc

        lower = None
        if userns is not None:
            # the shared template stays owned by the host's IDs; the container sees it
            # through its own map, read-only, without a copy
            tree = sc.open_tree(self.lower, sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC)
            try:
                try:
                    sc.mount_setattr(
                        tree, sc.MOUNT_ATTR_IDMAP | sc.MOUNT_ATTR_RDONLY, userns, self.lower
                    )
                except OSError as e:
                    if e.errno not in _NO_IDMAP:
                        raise
                    raise KernelFeatureMissing(
                        f"the file system of the template layer {self.lower} cannot be "
                        f"idmapped on this kernel ({os.strerror(e.errno)})",
                        hint=IDMAP_HINT,
                    ) from None
                os.makedirs(self.mapped, mode=0o700, exist_ok=True)
                sc.move_mount(tree, self.mapped)
            finally:
                os.close(tree)
            lower = self.mapped
        sc.mount("overlay", target, "overlay", 0, self.options(lower))


# what mount_setattr(MOUNT_ATTR_IDMAP) says when a file system or kernel cannot
_NO_IDMAP = (errno.EINVAL, errno.EPERM, errno.ENOSYS, errno.EOPNOTSUPP)
IDMAP_HINT = (
    "an unprivileged overlay container needs idmapped mounts of the template cache's file "
    "system (ext4, xfs: 5.12; btrfs: 5.15; tmpfs: 6.3) and overlay over them (5.19): "
    "use the dir or image backend, or --privileged"
)
