"""Shared by both tiers: root tests skip, with the reason, when the runner is not root.

Unit tests (tests/unit) need nothing. Tests marked `root` (every module in tests/integration)
run containers against the real kernel; CI runs as root, so they run by default there.
"""

from __future__ import annotations

import os

import pytest

ROOT_REASON = (
    "needs root: runs containers against the real kernel (namespaces, cgroups, mounts); "
    "run the suite as root"
)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # runs before any fixture of the item is set up, so no root-only fixture runs either
    if item.get_closest_marker("root") is not None and os.geteuid() != 0:
        pytest.skip(ROOT_REASON)
