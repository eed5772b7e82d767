"""Container IDs: numbers as in OpenVZ (101) or names as in LXC (web-1).

An ID becomes a directory name, a cgroup name and part of interface names, so it is
checked once here and trusted everywhere after.
"""

from __future__ import annotations

import re

from hutch.errors import UsageError

MAX_LEN = 32
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def validate(ctid: str) -> str:
    if not ctid:
        raise UsageError("container ID is empty")
    if len(ctid) > MAX_LEN:
        raise UsageError(f"container ID {ctid!r} is longer than {MAX_LEN} characters")
    if not _ID.fullmatch(ctid) or ".." in ctid:
        raise UsageError(
            f"invalid container ID {ctid!r}",
            hint="use a number such as 101 or a name of letters, digits, '-', '_' and '.'",
        )
    return ctid


def sort_key(ctid: str) -> tuple[int, int, str]:
    """Numeric IDs first in numeric order (as vzlist), then names."""
    return (0, int(ctid), "") if ctid.isdigit() else (1, 0, ctid)
