"""Snapshots of a container's data, in `<ctdir>/snapshots/NAME/`, for every backend.

A snapshot is a full, independent copy of what the backend stores (dir: `rootfs/`, overlay:
`upper/`, image: `root.img`, sparse), with a `meta.json` (backend, creation time). It is
built under a hidden name and renamed into place; a restore swaps the copy in with one
atomic exchange (renameat2), so a crash leaves either the old data or the restored data.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from hutch.errors import AlreadyExists, NotFound, UsageError
from hutch.storage.backends import Backend, copy_data, disk_usage, remove_tree

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")
META = "meta.json"


@dataclass(frozen=True)
class Snapshot:
    name: str
    created: float
    size: int  # bytes allocated on disk
    backend: str

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "created": self.created, "size": self.size}


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid snapshot name {name!r}",
            hint="letters, digits and . _ + -, starting with a letter or digit; at most 64",
        )
    return name


def snapshots_dir(ctdir: Path) -> Path:
    return ctdir / "snapshots"


def _dir(ctdir: Path, name: str) -> Path:
    return snapshots_dir(ctdir) / validate_name(name)


def create(ctdir: Path, backend: Backend, name: str) -> Snapshot:
    """Copy the container's data into a new snapshot `name` (the caller holds the lock and
    has made sure the data is not being written: the container is stopped)."""
    final = _dir(ctdir, name)
    if final.exists():
        raise AlreadyExists(f"snapshot {name} already exists")
    snapshots_dir(ctdir).mkdir(mode=0o700, exist_ok=True)
    partial = snapshots_dir(ctdir) / f".{name}.partial"
    remove_tree(partial)
    try:
        partial.mkdir(mode=0o700)
        copy_data(backend.data_path(ctdir), backend.data_path(partial))
        meta = {"backend": backend.name, "created": time.time()}
        (partial / META).write_text(json.dumps(meta))
        os.rename(partial, final)
    except BaseException:
        remove_tree(partial)
        raise
    return _read(final)


def list_snapshots(ctdir: Path) -> list[Snapshot]:
    try:
        names = sorted(os.listdir(snapshots_dir(ctdir)))
    except FileNotFoundError:
        return []
    found = [_read(snapshots_dir(ctdir) / n) for n in names if not n.startswith(".")]
    return sorted(found, key=lambda s: s.created)


def restore(ctdir: Path, backend: Backend, name: str) -> Snapshot:
    """Put snapshot `name` back as the container's data (the container is stopped). The
    snapshot stays; the data it replaces is gone."""
    snap = _dir(ctdir, name)
    info = _read(snap)
    if info.backend != backend.name:
        raise UsageError(f"snapshot {name} is of a {info.backend} container, not {backend.name}")
    live = backend.data_path(ctdir)
    incoming = ctdir / f".{backend.data}.restoring"
    remove_tree(incoming)
    try:
        copy_data(backend.data_path(snap), incoming)
        from hutch.linux.fsops import exchange

        exchange(incoming, live)  # one atomic step: `live` is never missing
    finally:
        remove_tree(incoming)  # after the exchange: the replaced data
    backend.restored(ctdir)
    return info


def delete(ctdir: Path, name: str) -> None:
    snap = _dir(ctdir, name)
    if not snap.is_dir():
        raise NotFound(f"no snapshot {name}", hint="see 'hutch snapshot ID list'")
    doomed = snapshots_dir(ctdir) / f".{name}.deleting"
    remove_tree(doomed)
    os.rename(snap, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def _read(snap: Path) -> Snapshot:
    try:
        meta = json.loads((snap / META).read_text())
    except FileNotFoundError:
        raise NotFound(f"no snapshot {snap.name}", hint="see 'hutch snapshot ID list'") from None
    except ValueError:
        meta = {}
    return Snapshot(
        snap.name, float(meta.get("created", 0)), disk_usage(snap)[0], meta.get("backend", "?")
    )
