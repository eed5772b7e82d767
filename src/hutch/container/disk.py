"""A container's disk: snapshots (under its lock) and usage against its quota."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from hutch.container.context import HostContext
from hutch.container.lifecycle import require
from hutch.container.lock import container_lock
from hutch.container.state import running_state
from hutch.errors import OperationFailed, StateConflict
from hutch.paths import Paths
from hutch.storage import backends, snapshots

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.config import ContainerConfig


def _refuse_running(host: HostContext, ctid: str, what: str) -> None:
    if running_state(host.paths, ctid) is not None or host.cgroups.find(ctid).pids():
        raise StateConflict(f"cannot {what}: container {ctid} is running", hint="stop it first")


def snapshot_create(host: HostContext, ctid: str, name: str) -> snapshots.Snapshot:
    """dir and overlay are copied even while running (files being written may be caught
    half-written, as with any file copy); an image only while stopped."""
    cfg = require(host, ctid)
    with container_lock(host.paths, ctid):
        if cfg.storage_backend == "image":
            _refuse_running(host, ctid, f"snapshot the image of {ctid}")
        return snapshots.create(host.paths.ct_dir(ctid), cfg.storage_backend, name)


def snapshot_list(host: HostContext, ctid: str) -> list[snapshots.Snapshot]:
    require(host, ctid)
    return snapshots.list_snapshots(host.paths.ct_dir(ctid))


def snapshot_restore(host: HostContext, ctid: str, name: str) -> snapshots.Snapshot:
    cfg = require(host, ctid)
    with container_lock(host.paths, ctid):
        _refuse_running(host, ctid, f"restore snapshot {name}")
        return snapshots.restore(host.paths.ct_dir(ctid), cfg.storage_backend, name)


def snapshot_delete(host: HostContext, ctid: str, name: str) -> None:
    require(host, ctid)
    with container_lock(host.paths, ctid):
        snapshots.delete(host.paths.ct_dir(ctid), name)


@dataclass(frozen=True)
class Usage:
    """Disk space and inodes a container uses, against its quota (`Container.quota()`)."""

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


def usage(paths: Paths, cfg: ContainerConfig) -> Usage:
    """Bytes and inodes in use. image: its file system's counters (statvfs through the init
    when running, the superblock when stopped); dir and overlay: the files counted (overlay:
    its own upper layer; the shared template layer is not the container's)."""
    soft, hard = backends.disk_limits(cfg)
    isoft, ihard = backends.inode_limits(cfg)
    ctdir = paths.ct_dir(cfg.ctid)
    if cfg.storage_backend != "image":
        used, inodes = snapshots.disk_usage(backends.data_path(ctdir, cfg.storage_backend))
        return Usage(cfg.storage_backend, False, used, inodes, soft, hard, isoft, ihard)
    st = running_state(paths, cfg.ctid)
    if st is not None:
        v = os.statvfs(f"/proc/{st.pid}/root")
        blocks, bfree, files, ffree, bsize = v.f_blocks, v.f_bfree, v.f_files, v.f_ffree, v.f_frsize
    else:
        sb = superblock(str(ctdir / backends.IMAGE))
        blocks, bfree = sb["Block count"], sb["Free blocks"]
        files, ffree, bsize = sb["Inode count"], sb["Free inodes"], sb["Block size"]
    return Usage(
        "image",
        True,
        (blocks - bfree) * bsize,
        files - ffree,
        soft,
        hard,
        isoft,
        ihard or files,
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
