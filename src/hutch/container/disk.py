"""A container's disk: snapshots (under its lock) and usage against its quota."""

from __future__ import annotations

from hutch.container import rootfs
from hutch.container.host import Host
from hutch.container.lifecycle import require
from hutch.container.lock import container_lock
from hutch.container.state import running_state
from hutch.errors import StateConflict
from hutch.paths import Paths
from hutch.storage import snapshots
from hutch.storage.backends import Usage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.config import ContainerConfig


def _refuse_running(host: Host, ctid: str, what: str) -> None:
    if running_state(host.paths, ctid) is not None or host.cgroups.find(ctid).pids():
        raise StateConflict(f"cannot {what}: container {ctid} is running", hint="stop it first")


def snapshot_create(host: Host, ctid: str, name: str) -> snapshots.Snapshot:
    """dir and overlay are copied even while running (files being written may be caught
    half-written, as with any file copy); an image only while stopped."""
    cfg = require(host, ctid)
    with container_lock(host.paths, ctid):
        backend = rootfs.backend_of(cfg)
        if not backend.snapshot_running:
            _refuse_running(host, ctid, f"snapshot the {backend.name} of {ctid}")
        return snapshots.create(host.paths.ct_dir(ctid), backend, name)


def snapshot_list(host: Host, ctid: str) -> list[snapshots.Snapshot]:
    require(host, ctid)
    return snapshots.list_snapshots(host.paths.ct_dir(ctid))


def snapshot_restore(host: Host, ctid: str, name: str) -> snapshots.Snapshot:
    cfg = require(host, ctid)
    with container_lock(host.paths, ctid):
        _refuse_running(host, ctid, f"restore snapshot {name}")
        return snapshots.restore(host.paths.ct_dir(ctid), rootfs.backend_of(cfg), name)


def snapshot_delete(host: Host, ctid: str, name: str) -> None:
    require(host, ctid)
    with container_lock(host.paths, ctid):
        snapshots.delete(host.paths.ct_dir(ctid), name)


def usage(paths: Paths, cfg: ContainerConfig) -> Usage:
    """Bytes and inodes in use. image: its file system's counters (statvfs through the init
    when running, the superblock when stopped); dir and overlay: the files counted (overlay:
    its own upper layer; the shared template layer is not the container's)."""
    st = running_state(paths, cfg.ctid)
    return rootfs.usage(paths, cfg, None if st is None else st.pid)
