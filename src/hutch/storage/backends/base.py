"""What every rootfs backend offers (`Backend`), the plain values it takes (`Rootfs`,
`Quota`) and the code the backends share (copies, ID shifts, tool runs, usage counts).

A backend never sees a container's config: `hutch.container.rootfs` builds a `Rootfs`
from it (sizes already in bytes, the idmap already resolved), so storage stays below
config. Callers ask a backend what it can do (`root_on_host`, `has_quota`, ...) instead
of comparing its name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from hutch.errors import KernelFeatureMissing, OperationFailed
from hutch.paths import Paths

TYPE_CHECKING = False  # typing costs milliseconds at start-up; annotations only need it here
if TYPE_CHECKING:
    from typing import ClassVar

    from hutch.security.idmap import IdMap


@dataclass(frozen=True)
class Quota:
    """Disk limits (None: none), soft and hard, in bytes and in inodes."""

    soft_bytes: int | None = None
    hard_bytes: int | None = None
    soft_inodes: int | None = None
    hard_inodes: int | None = None


@dataclass(frozen=True)
class Rootfs:
    """One container's storage as a backend needs to know it."""

    ctid: str
    ctdir: Path  # its directory (at create and clone: the staging directory)
    template: str  # what it was made from (overlay: its lower layer)
    idmap: IdMap | None = None  # whose IDs its files belong to (None: the host's)
    quota: Quota = field(default_factory=Quota)


@dataclass(frozen=True)
class Usage:
    backend: str
    quota: bool  # enforced by the kernel (image); else only measured
    used_bytes: int
    used_inodes: int
    soft_bytes: int | None
    hard_bytes: int | None
    soft_inodes: int | None
    hard_inodes: int | None

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class RootMount:
    """What the init mounts on its rootfs, in its own mount namespace, before pivoting
    (`userns`: an fd of the container's user namespace when its IDs are mapped)."""

    def describe(self) -> str:
        raise NotImplementedError

    def execute(self, target: str, userns: int | None = None) -> None:
        raise NotImplementedError


class Backend:
    """One way of storing a container's root. Stateless: one instance per backend."""

    name: ClassVar[str]
    # what holds the container's data inside its directory (copied by clones, snapshots
    # and migrations)
    data: ClassVar[str]
    # the data is the rootfs itself, seen by the host: nothing is mounted at start and the
    # host may write files into it (the hostname) while the container is stopped
    root_on_host: ClassVar[bool] = False
    # the kernel enforces the disk quota (else usage is only measured)
    has_quota: ClassVar[bool] = False
    # a copy of the data taken while the container runs is usable
    snapshot_running: ClassVar[bool] = True
    # the template stays a shared layer under the data: a host that runs the container
    # needs the template too
    shares_template: ClassVar[bool] = False

    def data_path(self, ctdir: Path) -> Path:
        return ctdir / self.data

    def quota(self, quota: Quota) -> Quota:
        """The limits this backend works with, given the configured ones."""
        return quota

    def make(self, paths: Paths, root: Rootfs) -> None:
        """Create the storage of a new container in `root.ctdir` (its staging directory),
        owned by the container's IDs."""
        raise NotImplementedError

    def skeleton(self, ctdir: Path) -> None:
        """What a directory holding a copy of the data (a clone, a migration) needs besides
        it: the rootfs, which is the mount point when the data is not the rootfs itself."""
        (ctdir / "rootfs").mkdir(mode=0o755, exist_ok=True)

    def copy(self, src_ctdir: Path, dst_ctdir: Path) -> None:
        """Clone: the data of `src_ctdir` into `dst_ctdir` (its staging directory)."""
        copy_data(self.data_path(src_ctdir), self.data_path(dst_ctdir))
        self.skeleton(dst_ctdir)

    def receive(self, paths: Paths, root: Rootfs) -> None:
        """Complete a copy of the data received from another host in `root.ctdir`."""
        self.skeleton(root.ctdir)

    def shift(self, ctdir: Path, old: IdMap | None, new: IdMap | None) -> None:
        """A copied container's data (clone, migration) from the IDs of `old` to `new`."""
        if old != new:
            shift_tree(str(self.data_path(ctdir)), old, new)

    def root_mount(self, paths: Paths, root: Rootfs) -> RootMount | None:
        """What the init mounts on its rootfs before pivoting (None: the directory as it is)."""
        return None

    def restored(self, ctdir: Path) -> None:
        """After a snapshot was put back as the data: what else goes with the old data."""

    def check_resize(self, root: Rootfs) -> None:
        """Refuse `root.quota` before anything changes if the storage cannot take it."""

    def grow(self, root: Rootfs, pid: int | None) -> bool:
        """Give the storage the size of `root.quota` (live through /proc/`pid`/root when the
        container runs). False when there was nothing to do."""
        return False

    def usage(self, root: Rootfs, pid: int | None) -> Usage:
        """Bytes and inodes in use (`pid`: the init of the running container, or None), and
        the limits: here the files counted, never enforced."""
        used, inodes = disk_usage(self.data_path(root.ctdir))
        q = root.quota
        return Usage(
            self.name,
            False,
            used,
            inodes,
            q.soft_bytes,
            q.hard_bytes,
            q.soft_inodes,
            q.hard_inodes,
        )


# -- shared by the backends ----------------------------------------------------------------


def unpacked(paths: Paths, template: str) -> Path:
    """The template unpacked once, read-only, shared by every overlay container made from
    it (and what an image is filled from): built beside its place and renamed in, under a
    lock so two creates build it once."""
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


def shift_tree(top: str, old: IdMap | None, new: IdMap | None) -> None:
    from hutch.security.idmap import shift_tree as _shift

    try:
        _shift(top, old, new)
    except OSError as e:
        raise OperationFailed(f"cannot give {top} to the container's IDs: {e}") from None


def copy_data(src: Path, dst: Path) -> None:
    """A full, independent copy of a container's data (a tree, or a sparse image file)."""
    argv = ["cp", "-a", "--reflink=auto"]
    if src.is_file():
        argv.append("--sparse=always")
    run([*argv, "--", str(src), str(dst)], f"copy {src}")


def run(argv: list[str], what: str) -> None:
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


def disk_usage(path: Path) -> tuple[int, int]:
    """(bytes allocated, inodes) below `path`, each hard-linked inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(path)]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0, 0
    seen.add((st.st_dev, st.st_ino))
    total += st.st_blocks * 512
    if not os.path.isdir(path) or os.path.islink(path):
        return total, 1
    while stack:
        d = stack.pop()
        try:
            it = os.scandir(d)
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
    return total, len(seen)
