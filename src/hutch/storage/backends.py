"""Rootfs backends: how a container's root is stored, made, mounted, copied and grown.

    dir      <ctdir>/rootfs/            a private copy of the template (nothing to mount)
    overlay  <ctdir>/upper/, work/      the template unpacked once, read-only, under
                                        `<cache>/unpacked/<template>`, as the lower layer
    image    <ctdir>/root.img           a sparse ext4 image: its size is the disk quota

`<ctdir>/rootfs` always exists: for overlay and image it is the empty mount point. The
overlay and the image are mounted by the container's init in its own mount namespace
(`RootMount.execute`, before the bind and pivot_root): the host never sees them, and the
image's loop device (autoclear) goes away with the namespace, so a crash leaks nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hutch.config import ContainerConfig
from hutch.config.units import count_pair_values, size_pair_bytes
from hutch.errors import KernelFeatureMissing, OperationFailed, StateConflict
from hutch.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.security.idmap import IdMap

# what holds a container's data, per backend, inside its directory
DATA = {"dir": "rootfs", "overlay": "upper", "image": "root.img"}
DEFAULT_IMAGE_SIZE = 1 << 30
IMAGE = "root.img"


def data_path(ctdir: Path, backend: str) -> Path:
    return ctdir / DATA[backend]


def disk_limits(cfg: ContainerConfig) -> tuple[int | None, int | None]:
    """(soft, hard) bytes; an image has a hard limit always (the default size)."""
    soft = hard = None
    if cfg.storage_diskspace:
        soft, hard = size_pair_bytes(cfg.storage_diskspace)
    if cfg.storage_backend == "image" and hard is None:
        hard = DEFAULT_IMAGE_SIZE
        soft = soft or hard
    return soft, hard


def inode_limits(cfg: ContainerConfig) -> tuple[int | None, int | None]:
    if cfg.storage_diskinodes:
        return count_pair_values(cfg.storage_diskinodes)
    return None, None


# -- the shared lower layers --------------------------------------------------------------


def unpacked(paths: Paths, template: str) -> Path:
    """The template unpacked once, read-only, shared by every overlay container made from
    it: built beside its place and renamed in, under a lock so two creates build it once."""
    from hutch.storage import templates

    base = paths.cache / "unpacked"
    final = base / template
    if final.is_dir():
        return final
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    fd = os.open(base / f".{template}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if final.is_dir():
            return final
        partial = base / f".{template}.{os.getpid()}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        try:
            templates.install(paths, template, partial)
            os.rename(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return final
    finally:
        os.close(fd)


# -- making one container's storage -------------------------------------------------------


def make(paths: Paths, cfg: ContainerConfig, ctdir: Path) -> None:
    """Create the storage of a new container in `ctdir` (its staging directory), owned by
    the container's IDs (shifted once here for the private copies)."""
    template = cfg.template or "busybox"
    idmap = cfg.idmap
    if cfg.storage_backend == "dir":
        from hutch.storage import templates

        templates.install(paths, template, ctdir / "rootfs")
        shift_tree(str(ctdir / "rootfs"), None, idmap)
        return
    lower = unpacked(paths, template)
    (ctdir / "rootfs").mkdir(mode=0o755)
    if cfg.storage_backend == "overlay":
        (ctdir / "upper").mkdir(mode=0o755)
        (ctdir / "work").mkdir(mode=0o700)
        (ctdir / "lower").mkdir(mode=0o700)
        shift_tree(str(ctdir / "upper"), None, idmap)  # the root directory inside
        return
    _, hard = disk_limits(cfg)
    _, inodes = inode_limits(cfg)
    assert hard is not None
    image = ctdir / IMAGE
    mkfs(image, hard, inodes, label=cfg.ctid)
    from hutch.linux.worker import run_in_worker

    base = None if idmap is None else idmap.base
    try:
        run_in_worker(_fill_image, str(image), str(lower), str(ctdir / "rootfs"), base)
    except OSError as e:  # the worker's error, as text (no loop devices, ...)
        raise OperationFailed(f"cannot fill the image {image}: {e}") from None


def shift_tree(top: str, old: IdMap | None, new: IdMap | None) -> None:
    from hutch.security.idmap import shift_tree as _shift

    try:
        _shift(top, old, new)
    except OSError as e:
        raise OperationFailed(f"cannot give {top} to the container's IDs: {e}") from None


def shift_storage(ctdir: Path, cfg: ContainerConfig, old: IdMap | None) -> None:
    """A copied container's data (clone) from the IDs of `old` to its own."""
    new = cfg.idmap
    if old == new:
        return
    if cfg.storage_backend == "image":
        from hutch.linux.worker import run_in_worker

        try:
            run_in_worker(_shift_image, str(ctdir / IMAGE), str(ctdir / "rootfs"), old, new)
        except OSError as e:
            raise OperationFailed(
                f"cannot give {ctdir / IMAGE} to the container's IDs: {e}"
            ) from None
    else:
        shift_tree(str(data_path(ctdir, cfg.storage_backend)), old, new)


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
    _run([*argv, str(image)], f"make the file system of {image}")


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
        _run(["cp", "-a", f"{lower}/.", f"{mnt}/"], f"fill {image}")
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


def _escape(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


@dataclass(frozen=True)
class OverlayRoot:
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


@dataclass(frozen=True)
class ImageRoot:
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


RootMount = OverlayRoot | ImageRoot


def root_mount(paths: Paths, cfg: ContainerConfig) -> RootMount | None:
    """What the init mounts on its rootfs before pivoting (None: the directory as it is)."""
    ctdir = paths.ct_dir(cfg.ctid)
    if cfg.storage_backend == "overlay":
        lower = paths.cache / "unpacked" / (cfg.template or "busybox")
        if not lower.is_dir():
            raise OperationFailed(
                f"container {cfg.ctid}: its template layer {lower} is missing",
                hint="recreate it with the same template, or restore the cache",
            )
        return OverlayRoot(
            str(lower), str(ctdir / "upper"), str(ctdir / "work"), str(ctdir / "lower")
        )
    if cfg.storage_backend == "image":
        return ImageRoot(str(ctdir / IMAGE))
    return None


# -- copies (clone, snapshots) --------------------------------------------------------------


def copy_data(src: Path, dst: Path) -> None:
    """A full, independent copy of a container's data (a tree, or a sparse image file)."""
    argv = ["cp", "-a", "--reflink=auto"]
    if src.is_file():
        argv.append("--sparse=always")
    _run([*argv, "--", str(src), str(dst)], f"copy {src}")


def copy_storage(src_ctdir: Path, dst_ctdir: Path, backend: str) -> None:
    """Clone: the data of `src_ctdir` into `dst_ctdir` (its staging directory)."""
    copy_data(data_path(src_ctdir, backend), data_path(dst_ctdir, backend))
    if backend != "dir":
        (dst_ctdir / "rootfs").mkdir(mode=0o755)
    if backend == "overlay":
        (dst_ctdir / "work").mkdir(mode=0o700)
        (dst_ctdir / "lower").mkdir(mode=0o700)


# -- growing an image ----------------------------------------------------------------------


def check_resize(paths: Paths, cfg: ContainerConfig) -> None:
    """Refuse a disk quota below the image's size before anything changes."""
    if cfg.storage_backend != "image":
        return
    _, hard = disk_limits(cfg)
    image = paths.ct_dir(cfg.ctid) / IMAGE
    size = image.stat().st_size
    if hard is not None and hard < size:
        raise StateConflict(
            f"container {cfg.ctid}: cannot shrink its image from {size} to {hard} bytes",
            hint="an image only grows; give --diskspace at least the current size",
        )


def grow_image(paths: Paths, cfg: ContainerConfig, pid: int | None) -> bool:
    """Grow the image to the configured hard limit: live through the attached loop device
    and the mounted file system (seen through /proc/`pid`/root) when the container runs,
    offline otherwise. False when there was nothing to do."""
    if cfg.storage_backend != "image":
        return False
    check_resize(paths, cfg)
    _, hard = disk_limits(cfg)
    image = paths.ct_dir(cfg.ctid) / IMAGE
    assert hard is not None
    if hard == image.stat().st_size:
        return False
    if pid is None:
        os.truncate(image, hard)
        _run(["resize2fs", "-f", str(image)], f"grow {image}")
        return True
    from hutch.linux import loop

    devices = loop.devices_of(str(image))
    if not devices:
        raise OperationFailed(f"container {cfg.ctid}: its image is not attached to a loop device")
    root = f"/proc/{pid}/root"
    block = os.statvfs(root).f_bsize
    old = image.stat().st_size
    try:
        os.truncate(image, hard)
        for dev in devices:
            loop.loop_set_capacity(dev)
        loop.ext4_resize_fs(root, hard // block)
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
            f"cannot grow the image of {cfg.ctid} live: {e.strerror}", hint=hint
        ) from None
    return True


def _run(argv: list[str], what: str) -> None:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise KernelFeatureMissing(f"cannot {what}: {argv[0]} not found") from None
    if r.returncode != 0:
        msg = (r.stderr or r.stdout).strip().splitlines()
        raise OperationFailed(f"cannot {what}: {msg[-1] if msg else f'{argv[0]} failed'}")


def remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            os.unlink(path)
