"""A container's storage from its config: the backend it names and the plain values that
backend takes (`Rootfs`: its directory, template, idmap and quota in bytes).

The only place where a `ContainerConfig` meets `hutch.storage`: the backends stay below
config and never parse a setting.
"""

from __future__ import annotations

from pathlib import Path

from hutch.config import ContainerConfig
from hutch.config.units import count_pair_values, size_pair_bytes
from hutch.paths import Paths
from hutch.storage import backends
from hutch.storage.backends import Backend, Quota, Rootfs, RootMount, Usage
from hutch.storage.templates import DEFAULT_TEMPLATE


def backend_of(cfg: ContainerConfig) -> Backend:
    return backends.get(cfg.storage_backend)


def quota_of(cfg: ContainerConfig) -> Quota:
    """The configured disk limits in bytes and inodes, as the container's backend takes
    them (an image always has a hard limit)."""
    soft = hard = isoft = ihard = None
    if cfg.storage_diskspace:
        soft, hard = size_pair_bytes(cfg.storage_diskspace)
    if cfg.storage_diskinodes:
        isoft, ihard = count_pair_values(cfg.storage_diskinodes)
    return backend_of(cfg).quota(Quota(soft, hard, isoft, ihard))


def rootfs_of(paths: Paths, cfg: ContainerConfig, ctdir: Path | None = None) -> Rootfs:
    """`ctdir`: where its storage is (default: the container's directory)."""
    return Rootfs(
        cfg.ctid,
        paths.ct_dir(cfg.ctid) if ctdir is None else ctdir,
        cfg.template or DEFAULT_TEMPLATE,
        cfg.idmap,
        quota_of(cfg),
    )


def make_storage(paths: Paths, cfg: ContainerConfig, staging: Path) -> None:
    """The storage of a new container, in its staging directory."""
    backend_of(cfg).make(paths, rootfs_of(paths, cfg, staging))


def root_mount(paths: Paths, cfg: ContainerConfig) -> RootMount | None:
    """What the init mounts on its rootfs before pivoting (None: the directory as it is)."""
    return backend_of(cfg).root_mount(paths, rootfs_of(paths, cfg))


def check_resize(paths: Paths, cfg: ContainerConfig) -> None:
    """Refuse a disk quota the storage cannot take (an image never shrinks)."""
    backend_of(cfg).check_resize(rootfs_of(paths, cfg))


def grow(paths: Paths, cfg: ContainerConfig, pid: int | None) -> bool:
    """Grow the storage to the configured quota (live when `pid`, the init, runs). False
    when there was nothing to do."""
    return backend_of(cfg).grow(rootfs_of(paths, cfg), pid)


def usage(paths: Paths, cfg: ContainerConfig, pid: int | None) -> Usage:
    return backend_of(cfg).usage(rootfs_of(paths, cfg), pid)
