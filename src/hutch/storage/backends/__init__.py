"""Rootfs backends: how a container's root is stored, made, mounted, copied and grown.

    dir      <ctdir>/rootfs/            a private copy of the template (nothing to mount)
    overlay  <ctdir>/upper/, work/      the template unpacked once, read-only, under
                                        `<cache>/unpacked/<template>`, as the lower layer
    image    <ctdir>/root.img           a sparse ext4 image: its size is the disk quota

`<ctdir>/rootfs` always exists: for overlay and image it is the empty mount point, mounted
by the container's init in its own mount namespace (`RootMount.execute`, before the bind
and pivot_root).

One module per backend, each a `Backend` (`hutch.storage.backends.base`); `BACKENDS` is the
one table from a name to its backend. Nothing outside these modules compares names: it asks
the backend (`root_on_host`, `has_quota`, `snapshot_running`, `shares_template`).
"""

from __future__ import annotations

from hutch.errors import UsageError
from hutch.storage.backends.base import (
    Backend,
    Quota,
    Rootfs,
    RootMount,
    Usage,
    copy_data,
    disk_usage,
    remove_tree,
    unpacked,
)
from hutch.storage.backends.directory import DirBackend
from hutch.storage.backends.image import ImageBackend, ImageRoot
from hutch.storage.backends.overlay import OverlayBackend, OverlayRoot

BACKENDS: dict[str, Backend] = {b.name: b for b in (DirBackend(), OverlayBackend(), ImageBackend())}
NAMES = tuple(BACKENDS)  # the config's choices, in the order of its help
DEFAULT = "dir"


def get(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UsageError(f"{name!r} is not a rootfs backend (one of: {', '.join(NAMES)})") from None


__all__ = [
    "BACKENDS",
    "DEFAULT",
    "NAMES",
    "Backend",
    "ImageRoot",
    "OverlayRoot",
    "Quota",
    "RootMount",
    "Rootfs",
    "Usage",
    "copy_data",
    "disk_usage",
    "get",
    "remove_tree",
    "unpacked",
]
