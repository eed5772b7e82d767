"""Per-container lock: two mutating operations on one container never interleave."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hutch.errors import OperationFailed, StateConflict
from hutch.paths import Paths


@contextmanager
def container_lock(paths: Paths, ctid: str, wait: float = 10.0) -> Iterator[None]:
    """Hold the container's flock; wait up to `wait` seconds for another holder to finish."""
    path = paths.ct_lock(ctid)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as e:  # a directory, a dangling link, a full /run: no lock, no operation
        raise OperationFailed(
            f"cannot open the lock file {path}: {e.strerror}",
            hint="remove it if no hutch command runs for this container",
        ) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StateConflict(
                        f"container {ctid} is busy: another operation holds its lock"
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)
