"""Locate CRIU and read its version.

setup.sh installs the criu of Debian's testing release under /opt/hutch/criu (Debian 12's 3.17
and 13's 4.1 are too old, see MIN_VERSION), so that wrapper wins over whatever is on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

WRAPPER = "/opt/hutch/criu/bin/criu"
# 3.x fails on kernels >= 6.x ("Unexpected rt vDSO area bounds"); 4.1 cannot restore the veth
# of an unprivileged container where the kernel checks CAP_NET_ADMIN in the peer's namespace
MIN_VERSION = (4, 2)

_VERSION = re.compile(r"^Version:\s*(\d+)\.(\d+)(?:\.(\d+))?", re.MULTILINE)


def find() -> str | None:
    """Path of the criu to run, or None. $HUTCH_CRIU names another one (a newer build)."""
    override = os.environ.get("HUTCH_CRIU")
    if override:
        return override if os.access(override, os.X_OK) else None
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
