"""Paths inside a container's root, resolved by the kernel as if that root were `/`.

Everything hutch creates, mounts, reads or writes inside a rootfs goes through here: the
rootfs belongs to the container, and a symlink planted there (`/dev -> /`, `/etc/hostname ->
/etc/shadow`) must resolve inside it, never on the host. Files are read and replaced only when
they are regular files of a bounded size: a FIFO would hang the host's tool, a device node
would run a host driver's open, a sparse 200G /etc/hosts would be read into host memory.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager

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
    """Make sure a file exists (a bind-mount target); returns an O_PATH fd of it.

    Whatever already stands there (a file, a device node, a FIFO) is only looked at through
    O_PATH, never opened for I/O: no FIFO blocks, no driver's open runs. A symlink is refused.
    """
    parent, name = _split(path)
    pfd = mkdirs_in_root(rootfd, parent) if parent else os.dup(rootfd)
    try:
        try:
            fd = os.open(
                name,
                os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                mode,
                dir_fd=pfd,
            )
            os.close(fd)
        except FileExistsError:
            pass  # something is there already: judged below, not opened
        fd = openat2(pfd, name, O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, 0, _IN_ROOT)
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.ELOOP, f"refusing symlink as mount target: {path}")
        return fd
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


# A file hutch reads from a rootfs is a few lines of text (hosts, hostname, os-release): a
# bigger one is the container's doing, and reading it would cost the host's memory.
MAX_FILE_SIZE = 1 << 20

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
    stat.S_IFLNK: "a symlink",
}


class RootFileRefused(OSError):
    """A file of a container's root that hutch will not read or replace: not a regular file,
    or bigger than the bound. `str()` is one line naming the path as the container sees it:
    `/etc/hosts in the container is a FIFO, not a regular file`."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(errno.EINVAL, why, path)
        self.inner_path = "/" + path.lstrip("/")
        self.why = why

    def __str__(self) -> str:
        return f"{self.inner_path} in the container {self.why}"


def _unresolvable(e: OSError, path: str) -> OSError:
    """A lookup inside the root that failed because of what the container put on the way,
    as RootFileRefused (one line for the operator); any other error as it was."""
    why = {
        errno.ELOOP: "is reached through a link hutch does not follow (magic link or loop)",
        errno.ENOTDIR: "has something other than a directory on its path",
        errno.ENAMETOOLONG: "has too long a path once its links are followed",
    }.get(e.errno or 0)
    return RootFileRefused(path, why) if why else e


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a file")


@contextmanager
def opened_root(path: str) -> Iterator[int]:
    """An O_PATH fd of the directory `path` (a rootfs, or /proc/PID/root) for the block."""
    rootfd = os.open(path, O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield rootfd
    finally:
        os.close(rootfd)


def stat_in_root(rootfd: int, path: str) -> os.stat_result:
    """stat(2) of `path` resolved inside the root (links followed inside it only)."""
    fd = open_in_root(rootfd, path, O_PATH | os.O_CLOEXEC)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def read_file_in_root(rootfd: int, path: str, max_size: int = MAX_FILE_SIZE) -> bytes | None:
    """The contents of a regular file inside the root; None if it does not exist.

    Links are followed inside the root only. The file is first opened O_PATH (no device
    driver's open runs, no FIFO blocks) and fstat'ed: anything but a regular file of at most
    `max_size` bytes raises RootFileRefused before a byte is read. Only then is that same
    inode reopened for reading (O_NONBLOCK, O_NOCTTY), and the read stops at the bound even
    if the file grows meanwhile.
    """
    try:
        pathfd = open_in_root(rootfd, path, O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise _unresolvable(e, path) from None
    try:
        st = os.fstat(pathfd)
        if not stat.S_ISREG(st.st_mode):
            raise RootFileRefused(path, f"is {_kind(st.st_mode)}, not a regular file")
        if st.st_size > max_size:
            raise RootFileRefused(path, _too_big(st.st_size, max_size))
        # the fd pins the inode checked above: reopening it cannot reach another file
        fd = os.open(fd_path(pathfd), os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    finally:
        os.close(pathfd)
    try:
        chunks, left = [], max_size + 1
        while left > 0:
            b = os.read(fd, min(left, 65536))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_size:
        raise RootFileRefused(path, _too_big(len(data), max_size))
    return data


def _too_big(size: int, limit: int) -> str:
    return f"is {size} bytes, over the {limit} bytes hutch reads of a container's file"


def check_replaceable(rootfd: int, path: str) -> None:
    """Refuse (RootFileRefused) what write_file_in_root would refuse, writing nothing: lets a
    caller check every file of a change before it writes the first."""
    parent, name = _split(path)
    try:
        pfd = open_in_root(rootfd, parent or ".", O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        return  # write_file_in_root makes the directories
    except OSError as e:
        raise _unresolvable(e, parent) from None
    try:
        _check_target(pfd, name, path)
    finally:
        os.close(pfd)


def _check_target(pfd: int, name: str, path: str) -> os.stat_result | None:
    """The lstat of what a write would replace (None: nothing there). A regular file or a
    symlink (replaced itself, never followed) may be replaced; a directory, FIFO, device or
    socket is refused rather than silently swapped for a file."""
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise RootFileRefused(path, f"is {_kind(st.st_mode)}, not a regular file")
    return st


def write_file_in_root(rootfd: int, path: str, data: bytes, mode: int | None = None) -> None:
    """Replace a file's contents inside the root, atomically: a new temp file, then rename.

    The parent is resolved inside the root; the last component is never followed (a symlink
    there is replaced by the file, its target untouched). A directory, FIFO, device or socket
    in its place raises RootFileRefused. The temp file has a fresh random name created with
    O_EXCL|O_NOFOLLOW, so nothing the container planted can stand in for it. `mode`: the
    new file's permissions; None keeps those of the regular file it replaces (else 0644).
    """
    parent, name = _split(path)
    try:
        pfd = mkdirs_in_root(rootfd, parent) if parent else os.dup(rootfd)
    except OSError as e:
        raise _unresolvable(e, parent) from None
    tmp = f".{name}.hutch-{secrets.token_hex(6)}"
    made = False
    try:
        old = _check_target(pfd, name, path)
        fd = os.open(
            tmp,
            os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=pfd,
        )
        made = True
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            # the owner (and mode) of the file it replaces, else its directory's owner: in an
            # unprivileged container a file of the host's root would be nobody's, read-only
            st = old if old is not None else os.fstat(pfd)
            os.fchown(fd, st.st_uid, st.st_gid)
            if mode is None:
                keep = old is not None and stat.S_ISREG(old.st_mode)
                mode = stat.S_IMODE(old.st_mode) if old is not None and keep else 0o644
            os.fchmod(fd, mode)  # after fchown, which clears setuid bits
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
        made = False
    except IsADirectoryError:
        # swapped for a directory between the check and the rename
        raise RootFileRefused(path, "is a directory, not a regular file") from None
    finally:
        if made:
            try:
                os.unlink(tmp, dir_fd=pfd)
            except OSError:
                pass
        os.close(pfd)


def replace_symlink_in_root(rootfd: int, target: str, path: str) -> None:
    """Make `path` a symlink to `target`, replacing a file or link there (never followed:
    a new link under a random name, then rename). A directory there is refused."""
    parent, name = _split(path)
    try:
        pfd = mkdirs_in_root(rootfd, parent) if parent else os.dup(rootfd)
    except OSError as e:
        raise _unresolvable(e, parent) from None
    tmp = f".{name}.hutch-{secrets.token_hex(6)}"
    try:
        os.symlink(target, tmp, dir_fd=pfd)
        try:
            os.rename(tmp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
        except BaseException:
            os.unlink(tmp, dir_fd=pfd)
            raise
    except (IsADirectoryError, NotADirectoryError):
        raise RootFileRefused(path, "is a directory, not a symlink") from None
    finally:
        os.close(pfd)


def fd_path(fd: int) -> str:
    """The magic-link path that names what an O_PATH fd points at (a mount target)."""
    return f"/proc/self/fd/{fd}"
