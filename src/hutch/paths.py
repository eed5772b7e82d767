"""Every path hutch touches, derived from one root.

The default root is `/` (so `/etc/hutch`, `/var/lib/hutch`, ...). Tests, and a second
simulated host, use their own root with `--root DIR` or `HUTCH_ROOT`, and then also get their
own cgroup subtree, so several hutch "hosts" coexist on one kernel without seeing each other.
"""

from __future__ import annotations

import os
from pathlib import Path


class Paths:
    # a plain class, not a dataclass: importing dataclasses costs the CLI ~20 ms
    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)

    def __repr__(self) -> str:
        return f"Paths({str(self.root)!r})"

    @classmethod
    def from_env(cls, root: str | None = None) -> Paths:
        return cls(Path(os.path.abspath(root or os.environ.get("HUTCH_ROOT") or "/")))

    @property
    def etc(self) -> Path:
        return self.root / "etc/hutch"

    @property
    def lib(self) -> Path:
        return self.root / "var/lib/hutch"

    @property
    def run(self) -> Path:
        return self.root / "run/hutch"

    @property
    def log(self) -> Path:
        return self.root / "var/log/hutch"

    @property
    def cache(self) -> Path:
        return self.root / "var/cache/hutch"

    @property
    def containers(self) -> Path:
        return self.lib / "containers"

    @property
    def templates(self) -> Path:
        return self.cache / "templates"

    @property
    def socket(self) -> Path:
        return self.run / "hutchd.sock"

    @property
    def daemon_pidfile(self) -> Path:
        return self.run / "hutchd.pid"

    @property
    def daemon_log(self) -> Path:
        return self.log / "hutchd.log"

    @property
    def is_default(self) -> bool:
        return str(self.root) == "/"

    @property
    def cgroup_name(self) -> str:
        """The name of this host's cgroup subtree: `hutch`, or `hutch-<hash>` for another root."""
        if self.is_default:
            return "hutch"
        import hashlib

        return "hutch-" + hashlib.sha256(str(self.root).encode()).hexdigest()[:8]

    # per container
    def ct_dir(self, ctid: str) -> Path:
        return self.containers / ctid

    def ct_config(self, ctid: str) -> Path:
        return self.containers / ctid / "config.toml"

    def ct_rootfs(self, ctid: str) -> Path:
        return self.containers / ctid / "rootfs"

    def ct_state(self, ctid: str) -> Path:
        return self.run / "containers" / f"{ctid}.json"

    def ct_maxheld(self, ctid: str) -> Path:
        """Peak values hutch keeps itself for beancounters without a kernel peak."""
        return self.run / "containers" / f"{ctid}.maxheld.json"

    def ct_settings(self, ctid: str) -> Path:
        """The settings a running container runs with (hutch.container.runrecord)."""
        return self.run / "containers" / f"{ctid}.settings.json"

    def ct_lock(self, ctid: str) -> Path:
        return self.run / "locks" / f"{ctid}.lock"

    def ct_console_log(self, ctid: str) -> Path:
        return self.log / ctid / "console.log"
