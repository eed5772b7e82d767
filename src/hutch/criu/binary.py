"""Locate CRIU and read its version.

setup.sh installs Debian 13's criu under /opt/hutch/criu on Debian 12 (whose own 3.17 is too
old for current kernels), so that wrapper wins over whatever is on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

WRAPPER = "/opt/hutch/criu/bin/criu"
MIN_MAJOR = 4  # 3.x fails on kernels >= 6.x ("Unexpected rt vDSO area bounds")

_VERSION = re.compile(r"^Version:\s*(\d+)\.(\d+)(?:\.(\d+))?", re.MULTILINE)


def find() -> str | None:
    """Path of the criu to run, or None."""
    if os.access(WRAPPER, os.X_OK):
        return WRAPPER
    return shutil.which("criu") or (
        "/usr/sbin/criu" if os.access("/usr/sbin/criu", os.X_OK) else None
    )


def parse_version(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) from `criu --version` output ("Version: 4.1.1")."""
    m = _VERSION.search(text)
    if m is None:
        return None
    return int(m[1]), int(m[2]), int(m[3] or 0)


def version(path: str, timeout: float = 10.0) -> tuple[int, int, int] | None:
    try:
        r = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_version(r.stdout)
