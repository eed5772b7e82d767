"""`hutch checkconfig`'s CRIU lines agree with running criu directly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hutch.criu import binary

pytestmark = pytest.mark.root


def _checks() -> dict[str, dict[str, str]]:
    p = subprocess.run(
        [sys.executable, "-m", "hutch", "checkconfig", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert p.returncode in (0, 1), p.stderr
    return {c["name"]: c for c in json.loads(p.stdout) if c["section"] == "Checkpoint"}


def test_criu_lines_match_criu_itself() -> None:
    checks = _checks()
    path = binary.find()
    if path is None:
        assert checks["CRIU"]["status"] == "optional"
        return
    assert checks["CRIU"] == {
        "section": "Checkpoint",
        "name": "CRIU",
        "status": "enabled",
        "detail": path,
    }
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.split("\n")[0].split()[-1] in checks["CRIU version"]["detail"]
    check = subprocess.run([path, "check"], capture_output=True, text=True, timeout=60)
    assert (checks["criu check"]["status"] == "enabled") == (check.returncode == 0)
    if check.returncode == 0:
        lock = subprocess.run(
            [path, "check", "--feature", "network_lock_nftables"],
            capture_output=True,
            timeout=60,
        )
        assert (checks["network_lock_nftables"]["status"] == "enabled") == (lock.returncode == 0)
