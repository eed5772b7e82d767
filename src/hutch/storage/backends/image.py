"""image: `<ctdir>/root.img`, a sparse ext4 image on a loop device: its size is the disk
quota, and the kernel enforces it.

The image is mounted by the container's init in its own mount namespace
(`ImageRoot.execute`): the host never sees it, and its loop device (autoclear) goes away
with the namespace, so a crash leaks nothing. Its files are shifted to the container's IDs
at create (in a worker that mounts it privately), so no map is needed at start.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from hutch.errors import KernelFeatureMissing, OperationFailed, StateConflict
from hutch.paths import Paths
from hutch.storage.backends.base import Backend, Quota, Rootfs, RootMount, Usage, run, unpacked

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.security.idmap import IdMap

DEFAULT_IMAGE_SIZE = 1 << 30
IMAGE = "root.img"


class ImageBackend(Backend):
    name = "image"
    data = IMAGE
    has_quota = True
    # the file system is mounted and written by the kernel: a copy is only whole at rest
    snapshot_running = False

    def quota(self, quota: Quota) -> Quota:
        """An image has a hard limit always (the default size)."""
        if quota.hard_bytes is not None:
            return quota
        soft = quota.soft_bytes or DEFAULT_IMAGE_SIZE
        return replace(quota, soft_bytes=soft, hard_bytes=DEFAULT_IMAGE_SIZE)

    def make(self, paths: Paths, root: Rootfs) -> None:
        ctdir = root.ctdir
        lower = unpacked(paths, root.template)
        (ctdir / "rootfs").mkdir(mode=0o755)
        hard = root.quota.hard_bytes
        assert hard is not None
        image = ctdir / IMAGE
        mkfs(image, hard, root.quota.hard_inodes, label=root.ctid)
        from hutch.linux.worker import run_in_worker

        base = None if root.idmap is None else root.idmap.base
        try:
            run_in_worker(_fill_image, str(image), str(lower), str(ctdir / "rootfs"), base)
        except OSError as e:  # the worker's error, as text (no loop devices, ...)
            raise OperationFailed(f"cannot fill the image {image}: {e}") from None

    def shift(self, ctdir: Path, old: IdMap | None, new: IdMap | None) -> None:
        if old == new:
            return
        from hutch.linux.worker import run_in_worker

        try:
            run_in_worker(_shift_image, str(ctdir / IMAGE), str(ctdir / "rootfs"), old, new)
        except OSError as e:
            raise OperationFailed(
                f"cannot give {ctdir / IMAGE} to the container's IDs: {e}"
            ) from None

    def root_mount(self, paths: Paths, root: Rootfs) -> ImageRoot:
        return ImageRoot(str(root.ctdir / IMAGE))

    # -- growing it ------------------------------------------------------------------------

    def check_resize(self, root: Rootfs) -> None:
        """Refuse a disk quota below the image's size before anything changes."""
        hard = root.quota.hard_bytes
        image = root.ctdir / IMAGE
        size = image.stat().st_size
        if hard is not None and hard < size:
            raise StateConflict(
                f"container {root.ctid}: cannot shrink its image from {size} to {hard} bytes",
                hint="an image only grows; give --diskspace at least the current size",
            )

    def grow(self, root: Rootfs, pid: int | None) -> bool:
        """Grow the image to the hard limit: live through the attached loop device and the
        mounted file system (seen through /proc/`pid`/root) when the container runs,
        offline otherwise."""
        self.check_resize(root)
        hard = root.quota.hard_bytes
        image = root.ctdir / IMAGE
        assert hard is not None
        if hard == image.stat().st_size:
            return False
        if pid is None:
            os.truncate(image, hard)
            run(["resize2fs", "-f", str(image)], f"grow {image}")
            return True
        from hutch.linux import loop

        devices = loop.devices_of(str(image))
        if not devices:
            raise OperationFailed(
                f"container {root.ctid}: its image is not attached to a loop device"
            )
        proc_root = f"/proc/{pid}/root"
        block = os.statvfs(proc_root).f_bsize
        old = image.stat().st_size
        try:
            os.truncate(image, hard)
            for dev in devices:
                loop.loop_set_capacity(dev)
            loop.ext4_resize_fs(proc_root, hard // block)
        except OSError as e:
            # put the file back as the file system still sees it: a later grow starts over
            with contextlib.suppress(OSError):
                os.truncate(image, old)
                for dev in devices:
                    loop.loop_set_capacity(dev)
            hint = "stop it and use 'set --diskspace ... --save' (grown at rest)"
            if e.errno == errno.EPERM:
                hint = "online resize needs CAP_SYS_RESOURCE, which hutch lacks here; " + hint
            raise OperationFailed(
                f"cannot grow the image of {root.ctid} live: {e.strerror}", hint=hint
            ) from None
        return True

    def usage(self, root: Rootfs, pid: int | None) -> Usage:
        """Its file system's counters: statvfs through the init when running, the
        superblock when stopped."""
        if pid is not None:
            v = os.statvfs(f"/proc/{pid}/root")
            blocks, bfree, files, ffree = v.f_blocks, v.f_bfree, v.f_files, v.f_ffree
            bsize = v.f_frsize
        else:
            sb = superblock(str(root.ctdir / IMAGE))
            blocks, bfree = sb["Block count"], sb["Free blocks"]
            files, ffree, bsize = sb["Inode count"], sb["Free inodes"], sb["Block size"]
        q = root.quota
        return Usage(
            self.name,
            True,
            (blocks - bfree) * bsize,
            files - ffree,
            q.soft_bytes,
            q.hard_bytes,
            q.soft_inodes,
            q.hard_inodes or files,
        )


def superblock(image: str) -> dict[str, int]:
    """The numeric fields of `dumpe2fs -h` ("Block count": 262144, ...)."""
    try:
        r = subprocess.run(["dumpe2fs", "-h", image], capture_output=True, text=True)
    except FileNotFoundError:
        raise OperationFailed("dumpe2fs not found (apt install e2fsprogs)") from None
    if r.returncode != 0:
        raise OperationFailed(f"cannot read the file system of {image}: {r.stderr.strip()}")
    out: dict[str, int] = {}
    for line in r.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip().isdigit():
            out[key.strip()] = int(value.strip())
    return out


# -- making it -----------------------------------------------------------------------------


def mkfs(image: Path, size: int, inodes: int | None, label: str = "") -> None:
    """A sparse file of `size` bytes holding an empty ext4 file system (no reserved blocks:
    the container's root gets the whole quota)."""
    if not shutil.which("mkfs.ext4"):
        raise KernelFeatureMissing(
            "mkfs.ext4 not found: the image backend needs it", hint="apt install e2fsprogs"
        )
    with open(image, "xb") as f:
        f.truncate(size)
    argv = ["mkfs.ext4", "-q", "-F", "-m", "0", "-L", label[:16]]
    argv += ["-E", "nodiscard,root_owner=0:0,lazy_itable_init=0,lazy_journal_init=1"]
    if inodes:
        argv += ["-N", str(inodes)]
    run([*argv, str(image)], f"make the file system of {image}")


def _mounted_image(image: str, mnt: str) -> None:  # pragma: no cover - worker
    """Mount an image in the calling worker's own private mount namespace: the mount and
    its loop device end with the worker."""
    from hutch.linux import loop
    from hutch.linux import syscalls as sc

    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    dev, fd = loop.attach(image)
    try:
        sc.mount(dev, mnt, "ext4", 0, None)
    finally:
        os.close(fd)


def _fill_image(image: str, lower: str, mnt: str, base: int | None) -> None:  # pragma: no cover
    """In a forked worker: copy the template into the image, owned by the container's IDs."""
    from hutch.linux import syscalls as sc
    from hutch.security.idmap import IdMap, shift_tree

    _mounted_image(image, mnt)
    try:
        run(["cp", "-a", f"{lower}/.", f"{mnt}/"], f"fill {image}")
        os.rmdir(f"{mnt}/lost+found")  # the template has its own idea of that
        if base is not None:
            shift_tree(mnt, None, IdMap(base))
    finally:
        sc.umount2(mnt)


def _shift_image(
    image: str, mnt: str, old: IdMap | None, new: IdMap | None
) -> None:  # pragma: no cover
    from hutch.linux import syscalls as sc
    from hutch.security.idmap import shift_tree

    _mounted_image(image, mnt)
    try:
        shift_tree(mnt, old, new)
    finally:
        sc.umount2(mnt)


# -- mounting it at start (in the container's mount namespace) -----------------------------


@dataclass(frozen=True)
class ImageRoot(RootMount):
    image: str

    def describe(self) -> str:
        return f"mount ext4 image {self.image} (loop, autoclear) on the rootfs"

    def execute(self, target: str, userns: int | None = None) -> None:
        from hutch.linux import loop
        from hutch.linux import syscalls as sc

        # its files were shifted to the container's IDs at create: no map needed here
        dev, fd = loop.attach(self.image)
        try:
            sc.mount(dev, target, "ext4", 0, None)
        finally:
            os.close(fd)  # the mount holds the device now; autoclear when it goes
