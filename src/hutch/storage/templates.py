"""OS templates: the built-in `busybox` one (built locally) and, later, the tarball cache."""

from __future__ import annotations

from pathlib import Path

from hutch.errors import NotFound
from hutch.paths import Paths

BUILTIN = ("busybox",)
DEFAULT_TEMPLATE = "busybox"


def available(paths: Paths) -> list[str]:
    return list(BUILTIN)


def install(paths: Paths, name: str, dest: Path) -> None:
    """Unpack template `name` into `dest` (which must not exist yet)."""
    if name == "busybox":
        from hutch.storage.busybox import build_busybox_rootfs

        build_busybox_rootfs(dest)
        return
    raise NotFound(
        f"unknown template {name!r}",
        hint="available: " + ", ".join(available(paths)),
    )
