"""Smoke test of bench/migrate.py: one small size (16 MiB), end to end, about 20 s.

It only checks that the bench runs, measures every cell, sees the memwriter go on after each
restore, and leaves nothing behind; the figures themselves are never asserted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "migrate.py"


def test_bench_migrate_quick() -> None:
    from hutch.criu import readiness

    for tool in ("gcc", "rsync", "ssh", "/usr/sbin/sshd"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    r = readiness.probe()
    if not r.usable:
        pytest.skip(f"CRIU is not usable here: {r.problems[:1] or 'not installed'}")
    env = dict(os.environ)
    env.pop("HUTCH_ROOT", None)
    proc = subprocess.Popen(
        [sys.executable, str(BENCH), "--quick", "--sizes", "16", "--json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.terminate()  # the bench cleans up on SIGTERM
            proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    report = json.loads(out)
    row = report["results"]["16"]
    for key in ("hutch_cr", "offline", "online"):
        assert "error" not in row[key], row[key]
    assert row["hutch_cr"]["frozen_s"] > 0
    assert row["online"]["counter_after"] > row["online"]["counter_before"]
    assert row["online"]["downtime_s"] > 0 and row["offline"]["downtime_s"] > 0
    if report["lxc"] == "measured":
        assert "error" not in row["lxc_cr"], row["lxc_cr"]
    # nothing left behind: its namespaces (named after its pid), its workspace
    assert "cleanup:" not in err, err[-2000:]
    for name in (f"hutch-bs{proc.pid}", f"hutch-bt{proc.pid}"):
        assert not os.path.exists(f"/run/netns/{name}")
    workspace = re.search(r"^workspace (\S+);", err, re.MULTILINE)
    assert workspace is not None, err[-2000:]
    assert not os.path.exists(workspace[1])
