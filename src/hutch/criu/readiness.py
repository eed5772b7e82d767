"""Can CRIU checkpoint a container here? `criu check` plus the features hutch relies on,
each problem as one line."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

from hutch.criu import binary

# criu check --feature NAME for what hutch's dump/restore uses beyond the basic check
FEATURES = (
    ("network_lock_nftables", "no nftables network lock (iptables is used instead)"),
    ("mem_dirty_track", "no memory dirty tracking: no pre-dump, no live migration"),
)

_LOGPREFIX = re.compile(r"^(?:\(\s*[\d.]+\)\s*)?(Error|Warn)\s*\(([^)]*)\):\s*", re.MULTILINE)


@dataclass
class Readiness:
    path: str | None = None
    version: tuple[int, int, int] | None = None
    check_ok: bool = False
    problems: list[str] = field(default_factory=list)  # `criu check` errors and warnings
    features: dict[str, bool] = field(default_factory=dict)

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version)) if self.version else "unknown"

    @property
    def usable(self) -> bool:
        return (
            self.path is not None
            and self.check_ok
            and self.version is not None
            and self.version[:2] >= binary.MIN_VERSION
        )


def parse_check(output: str) -> list[str]:
    """One line per complaint in `criu check` output: the message without the log prefix
    ("Error (criu/cr-check.c:824): ") and without the closing summary paragraph."""
    out = []
    for line in output.splitlines():
        m = _LOGPREFIX.match(line)
        if m is None:
            continue
        msg = f"{m[1].lower()}: {line[m.end() :].strip()}"
        if not msg.endswith(": ") and msg not in out:
            out.append(msg)
    return out


def _run(args: list[str], timeout: float) -> tuple[int, str]:
    try:
        r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return 124, f"Error (hutch): {' '.join(args)} timed out after {timeout:.0f}s"
    except OSError as e:
        return 127, f"Error (hutch): {args[0]}: {e.strerror}"
    return r.returncode, r.stdout + r.stderr


def probe(timeout: float = 30.0) -> Readiness:
    r = Readiness(path=binary.find())
    if r.path is None:
        return r
    r.version = binary.version(r.path)
    status, output = _run([r.path, "check"], timeout)
    r.check_ok = status == 0
    r.problems = parse_check(output)
    if not r.check_ok and not r.problems:
        r.problems = [f"error: criu check exited with status {status}"]
    if r.check_ok:
        for name, _ in FEATURES:
            r.features[name] = _run([r.path, "check", "--feature", name], timeout)[0] == 0
    return r
