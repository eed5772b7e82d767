"""Tests that need a pure cgroup v2 host. On this repo's v1-hybrid CI host they run inside a
qemu VM (tests/integration/test_cgroup_v2_host.py boots it); anywhere else that is pure v2
and root, they run directly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    pure_v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    if pure_v2 and os.geteuid() == 0:
        return
    reason = "needs root on a pure cgroup v2 host (run through tools/v2vm on a v1 host)"
    for item in items:
        if "v2host" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))
