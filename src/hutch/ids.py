"""Container IDs: numbers as in OpenVZ (101) or names as in LXC (web-1).

An ID becomes a directory name, a cgroup name and part of interface names, so it is
checked once here and trusted everywhere after. A leaf, importing nothing of hutch: the library
turns `InvalidId` into a UsageError at its edge (hutch.container.ctid.valid_id).
"""

from __future__ import annotations

import re

MAX_LEN = 32
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class InvalidId(ValueError):
    """An ID hutch refuses: the message says why, `hint` (if any) what an ID may be."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def validate(ctid: str) -> str:
    if not ctid:
        raise InvalidId("container ID is empty")
    if len(ctid) > MAX_LEN:
        raise InvalidId(f"container ID {ctid!r} is longer than {MAX_LEN} characters")
    if not _ID.fullmatch(ctid) or ".." in ctid:
        raise InvalidId(
            f"invalid container ID {ctid!r}",
            hint="use a number such as 101 or a name of letters, digits, '-', '_' and '.'",
        )
    return ctid


def sort_key(ctid: str) -> tuple[int, int, str]:
    """Numeric IDs first in numeric order (as vzlist), then names."""
    return (0, int(ctid), "") if ctid.isdigit() else (1, 0, ctid)
