"""`hutch checkconfig` reports what the kernel really offers (it probes, so it can be
checked against independent evidence)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root


def _checks() -> dict[str, str]:
    p = subprocess.run(
        [sys.executable, "-m", "hutch", "checkconfig", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert p.returncode in (0, 1), p.stderr
    return {c["name"]: c["status"] for c in json.loads(p.stdout)}


def test_checkconfig_matches_the_kernel() -> None:
    checks = _checks()
    for ns in ("Mount", "Pid", "Network", "Utsname", "Ipc", "Cgroup"):
        assert checks[f"{ns} namespace"] == "enabled"
    assert checks["Veth pair device"] == "enabled"
    # the vlan verdict agrees with the kernel's own sign of 8021q
    has_8021q = os.path.exists("/proc/net/vlan") or os.path.exists("/sys/module/8021q")
    assert (checks["Vlan (8021q)"] == "enabled") == has_8021q
    with open("/proc/filesystems") as f:
        overlay = any(line.split()[-1] == "overlay" for line in f if line.strip())
    assert (checks["overlay"] == "enabled") == overlay


def test_checkconfig_text_has_lxc_style_sections() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "hutch", "checkconfig"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "--- Namespaces ---" in p.stdout and "--- Control groups ---" in p.stdout
    assert "Veth pair device: enabled" in p.stdout
