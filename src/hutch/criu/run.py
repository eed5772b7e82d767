"""Run `criu dump`, `criu pre-dump` and `criu restore` with a log file, and turn a failure into
one HutchError line made of the last errors in that log (criu's own stderr is mostly empty:
everything goes to the log)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from hutch.criu import binary
from hutch.errors import KernelFeatureMissing, OperationFailed

ACTIONS = ("dump", "pre-dump", "restore")
LOG_LEVEL = "4"  # full detail: the log is what a person reads after a failed migration

# Lines that criu logs as errors but that do not fail anything (seen with 4.1.1): raising
# RLIMIT_NOFILE beyond the hard limit, and re-adding the loopback addresses the kernel gave
# a fresh network namespace already.
_BENIGN = ("Can't setup RLIMIT_NOFILE", "Address already assigned", "address already assigned")


def last_errors(log_text: str, count: int = 2) -> list[str]:
    """The last `count` distinct error messages of a criu log, without their prefixes,
    leaving out the generic closing one ("Dumping FAILED.") when there is a better one."""
    errors: list[str] = []
    for line in log_text.splitlines():
        if "Error" not in line:
            continue
        _, sep, msg = line.partition("): ") if "Error (" in line else ("", "", "")
        if not sep:
            _, sep, msg = line.partition("Error: ")
        msg = msg.strip()
        if not sep or not msg or any(b in msg for b in _BENIGN):
            continue
        if msg in errors:
            errors.remove(msg)
        errors.append(msg)
    useful = [e for e in errors if not e.endswith("FAILED.")] or errors
    return useful[-count:]


# criu's words for a cause an operator can act on, and what to do about it
_EXPLAINED = (
    (
        re.compile(r"session leader of (\d+) is outside", re.IGNORECASE),
        "process {0} inside still belongs to the session of a 'hutch exec' (its leader is "
        "outside the container): start background processes with setsid",
    ),
)


def error_line(action: str, log_text: str, log_path: Path | str) -> str:
    errors = last_errors(log_text)
    for pattern, text in _EXPLAINED:
        for e in errors:
            m = pattern.search(e)
            if m:
                return f"criu {action} failed: {text.format(*m.groups())} (log: {log_path})"
    what = "; ".join(errors) if errors else "no error in its log"
    return f"criu {action} failed: {what} (log: {log_path})"


def run(
    action: str,
    images: Path,
    args: Sequence[str],
    *,
    log_name: str | None = None,
    pass_fds: Sequence[int] = (),
    timeout: float = 300.0,
    criu: str | None = None,
) -> Path:
    """Run `criu ACTION -D images -o LOG args...`; return the log's path. Raises
    OperationFailed with the log's last errors when criu fails."""
    if action not in ACTIONS:
        raise ValueError(f"unknown criu action {action}")
    path = criu or binary.find()
    if path is None:
        raise KernelFeatureMissing(
            "criu is not installed", hint="run setup.sh, or apt-get install criu"
        )
    images.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = images / (log_name or f"{action}.log")
    cmd = [path, action, "-D", str(images), "-o", log.name, "-v" + LOG_LEVEL, *args]
    try:
        # -o is relative to the work dir, which defaults to the images directory
        r = subprocess.run(
            cmd,
            pass_fds=tuple(pass_fds),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise OperationFailed(f"criu {action} timed out after {timeout:.0f}s (log: {log})") from e
    if r.returncode != 0:
        try:
            text = log.read_text(errors="replace")
        except OSError:
            text = ""
        raise OperationFailed(error_line(action, text + "\n" + r.stderr, log))
    return log
