"""OS templates: the built-in `busybox` one (built locally) and the tarball cache.

Above `hutch.storage.cache` (which lists the built-in names with the cached ones): this
module picks who builds a template, the cache never asks it."""

from __future__ import annotations

from pathlib import Path

from hutch.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.storage.extract import Progress

DEFAULT_TEMPLATE = "busybox"


def available(paths: Paths) -> list[str]:
    from hutch.storage.cache import list_templates

    return [t.name for t in list_templates(paths)]


def install(paths: Paths, name: str, dest: Path, progress: Progress | None = None) -> None:
    """Unpack template `name` into `dest` (which must not exist yet).

    `busybox` is built from the host's busybox; any other name comes from the template cache
    (`hutch.storage.cache`); an unknown one is NotFound, listing the available ones."""
    if name == "busybox":
        from hutch.storage.busybox import build_busybox_rootfs

        build_busybox_rootfs(dest)
        return
    from hutch.storage.cache import install as install_cached

    install_cached(paths, name, dest, progress=progress)
