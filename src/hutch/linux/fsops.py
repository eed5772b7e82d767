"""File-system calls the os module lacks: renameat2(2) with RENAME_EXCHANGE."""

from __future__ import annotations

import ctypes
import os

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
AT_FDCWD = -100

_libc = ctypes.CDLL(None, use_errno=True)


def renameat2(old: str | os.PathLike[str], new: str | os.PathLike[str], flags: int) -> None:
    ret = _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"renameat2 {old} {new}: {os.strerror(err)}")


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
    """Swap two paths atomically (both must exist): either is never missing."""
    renameat2(a, b, RENAME_EXCHANGE)
