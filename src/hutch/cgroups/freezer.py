"""Freezing: every task of the container stops; thawing resumes them."""

from __future__ import annotations

import time
from pathlib import Path

from hutch.cgroups import knobs
from hutch.errors import OperationFailed


def _wait(pred, group: Path, what: str, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise OperationFailed(f"{group}: tasks did not {what} within {timeout:g} s")
        time.sleep(0.005)


def freeze_v1(group: Path, timeout: float = 10.0) -> None:
    knobs.write(group, "freezer.state", "FROZEN")
    _wait(lambda: frozen_v1(group), group, "freeze", timeout)


def thaw_v1(group: Path) -> None:
    knobs.write(group, "freezer.state", "THAWED")


def frozen_v1(group: Path) -> bool:
    return (knobs.read(group, "freezer.state") or "").strip() == "FROZEN"


def freeze_v2(group: Path, timeout: float = 10.0) -> None:
    knobs.write(group, "cgroup.freeze", "1")
    _wait(lambda: frozen_v2(group), group, "freeze", timeout)


def thaw_v2(group: Path) -> None:
    knobs.write(group, "cgroup.freeze", "0")


def frozen_v2(group: Path) -> bool:
    return knobs.flat_keyed(group, "cgroup.events").get("frozen") == 1
