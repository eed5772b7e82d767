"""Paths inside a container's root, resolved by the kernel as if that root were `/`.

Everything hutch creates or mounts inside a rootfs goes through here: the rootfs belongs to
the container, and a symlink planted there (`/dev -> /`, `/etc/hostname -> /etc/shadow`) must
resolve inside it, never on the host.
"""

from __future__ import annotations

import errno
import os

from hutch.linux.syscalls import (
    O_PATH,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
    openat2,
)

_IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
_NO_SYMLINKS = _IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV


def open_in_root(rootfd: int, path: str, flags: int = O_PATH, mode: int = 0) -> int:
    """Open `path` (absolute or relative) inside the root held by `rootfd`."""
    return openat2(rootfd, path.lstrip("/") or ".", flags, mode, _IN_ROOT)


def open_no_symlinks(rootfd: int, path: str, flags: int = O_PATH | os.O_DIRECTORY) -> int:
    """Open `path` inside the root following no symlink at all, not even in the last
    component, and crossing no mount (ELOOP, EXDEV). For trees hutch is still building, such
    as a template being unpacked, where any symlink on the way was planted by the archive."""
    return openat2(rootfd, path.lstrip("/") or ".", flags | os.O_NOFOLLOW, 0, _NO_SYMLINKS)


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.strip("/").rpartition("/")
    return parent, name


def mkdirs_in_root(rootfd: int, path: str, mode: int = 0o755) -> int:
    """`mkdir -p` inside the root; returns an O_PATH fd of the directory."""
    try:
        return open_in_root(rootfd, path, O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        pass
    parent, name = _split(path)
    pfd = mkdirs_in_root(rootfd, parent, mode) if parent else os.dup(rootfd)
    try:
        try:
            os.mkdir(name, mode, dir_fd=pfd)
        except FileExistsError:
            pass
        return openat2(pfd, name, O_PATH | os.O_DIRECTORY, 0, _IN_ROOT)
    finally:
        os.close(pfd)


def create_file_in_root(rootfd: int, path: str, mode: int = 0o644) -> int:
    """Make sure a regular file exists (a bind-mount target); returns an O_PATH fd of it."""
    parent, name = _split(path)
    pfd = mkdirs_in_root(rootfd, parent) if parent else os.dup(rootfd)
    try:
        try:
            fd = os.open(
                name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=pfd
            )
            os.close(fd)
        except OSError as e:
            # an existing device node or fifo is fine as a mount target; a symlink is not
            if e.errno == errno.ELOOP:
                raise OSError(e.errno, f"refusing symlink as mount target: {path}") from None
            if e.errno not in (errno.EEXIST, errno.ENXIO, errno.EISDIR, errno.EACCES):
                raise
        return openat2(pfd, name, O_PATH | os.O_NOFOLLOW, 0, _IN_ROOT)
    finally:
        os.close(pfd)


def symlink_in_root(rootfd: int, target: str, path: str) -> None:
    parent, name = _split(path)
    pfd = mkdirs_in_root(rootfd, parent) if parent else os.dup(rootfd)
    try:
        try:
            os.symlink(target, name, dir_fd=pfd)
        except FileExistsError:
            pass
    finally:
        os.close(pfd)


def write_file_in_root(rootfd: int, path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace a file's contents inside the root (atomically: temp file and rename)."""
    parent, name = _split(path)
    pfd = mkdirs_in_root(rootfd, parent) if parent else os.dup(rootfd)
    tmp = f".{name}.hutch-tmp"
    try:
        fd = os.open(
            tmp,
            os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
            mode,
            dir_fd=pfd,
        )
        try:
            os.write(fd, data)
            # the owner of the file it replaces, else of its directory: in an unprivileged
            # container a file of the host's root would be nobody's, and read-only to it
            try:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                st = os.fstat(pfd)
            os.fchown(fd, st.st_uid, st.st_gid)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=pfd)
        except OSError:
            pass
        raise
    finally:
        os.close(pfd)


def read_file_in_root(rootfd: int, path: str) -> bytes | None:
    try:
        fd = open_in_root(rootfd, path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read()


def fd_path(fd: int) -> str:
    """The magic-link path that names what an O_PATH fd points at (a mount target)."""
    return f"/proc/self/fd/{fd}"
