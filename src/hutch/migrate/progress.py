"""Progress of a migration on stderr, its timings, and the test-only pause hook.

HUTCH_MIGRATE_PAUSE=STEP:FILE (tests only) makes the migration stop when it reaches STEP:
it creates FILE and waits until FILE is removed (at most PAUSE_TIMEOUT s), so a test can
break something at a known point (kill the target's hutchd) and then let it go on.
Steps, in order: checked, stopped (offline) / dumped (online), copied, adopted, started
(offline) / restored (online).
"""

from __future__ import annotations

import os
import sys
import time

PAUSE_ENV = "HUTCH_MIGRATE_PAUSE"
PAUSE_TIMEOUT = 120.0


class Progress:
    def __init__(self, ctid: str, host: str, quiet: bool = False) -> None:
        self.prefix = f"migrate {ctid} -> {host}"
        self.quiet = quiet
        self.t0 = time.monotonic()
        self.marks: dict[str, float] = {}

    def say(self, text: str) -> None:
        if not self.quiet:
            elapsed = time.monotonic() - self.t0
            print(f"{self.prefix}: [{elapsed:6.2f}s] {text}", file=sys.stderr, flush=True)

    def mark(self, name: str) -> float:
        self.marks[name] = now = time.monotonic()
        return now

    def since(self, name: str) -> float:
        return time.monotonic() - self.marks.get(name, self.t0)

    def total(self) -> float:
        return time.monotonic() - self.t0

    def step(self, name: str) -> None:
        """A named point of the protocol: where the pause hook may hold the migration."""
        spec = os.environ.get(PAUSE_ENV, "")
        step, _, path = spec.partition(":")
        if step != name or not path:
            return
        with open(path, "w") as f:
            f.write(f"{name} {os.getpid()}\n")
        self.say(f"paused at step {name} until {path} is removed ({PAUSE_ENV})")
        deadline = time.monotonic() + PAUSE_TIMEOUT
        while os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.02)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
