"""The typed results of `hutch.Host` and `hutch.Container` (frozen dataclasses, enums).

Rows the lower layers already type are handed out as they are: `TemplateInfo`
(hutch.storage.cache), `Snapshot` (hutch.storage.snapshots), `Check`
(hutch.host.features), `Beancounter` (hutch.container.beancounters), `Usage`
(hutch.container.disk).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class Status(enum.StrEnum):
    """Where a container is: `hutch status` and `hutch list` show the value."""

    STOPPED = "stopped"
    RUNNING = "running"
    FROZEN = "frozen"


class Shutdown(enum.StrEnum):
    """How `Container.stop()` ended the init."""

    CLEAN = "clean"  # it powered off on its stop signal
    KILLED = "killed"  # SIGKILL: asked to, or the timeout ran out


@dataclass(frozen=True)
class StartResult:
    """What `Container.start()` started."""

    pid: int  # the init's, as the host sees it
    warnings: tuple[str, ...] = ()  # limits the kernel could not apply, files skipped


@dataclass(frozen=True)
class ExecResult:
    """What `Container.exec()` ran: its exit status (128+N if killed by signal N) and
    everything it wrote."""

    status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.status == 0


@dataclass(frozen=True)
class Stats:
    """What a running container uses now. None: this kernel does not count it (or, for
    `cpu_percent`, it was not measured: `stats(sample=0)`)."""

    ctid: str
    cpu_percent: float | None  # of one CPU, over the sample
    cpu_seconds: float | None
    memory: int | None  # bytes
    memory_limit: int | None
    tasks: int | None
    tasks_limit: int | None
    io_read_bytes: int | None
    io_write_bytes: int | None

    @classmethod
    def from_row(cls, row: dict[str, object]) -> Stats:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})  # type: ignore[arg-type]


@dataclass(frozen=True)
class CheckpointResult:
    """What `Container.checkpoint()` saved, where, and how long the dump took."""

    directory: Path  # the CRIU images
    dump_ms: float
    kept_running: bool


@dataclass(frozen=True)
class RestoreResult:
    """What `Container.restore()` brought back."""

    pid: int
    restore_ms: float
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class SetResult:
    """What `Container.set()` (`hutch set`) did."""

    applied: tuple[str, ...] = ()  # key names applied to the running container, in order
    warnings: tuple[str, ...] = ()  # what the kernel or the backend could not do
    saved: bool = False  # config.toml was written
    grown: bool = False  # a stopped container's image was grown to its new --diskspace

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": list(self.applied),
            "warnings": list(self.warnings),
            "saved": self.saved,
            "grown": self.grown,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SetResult:
        return cls(
            applied=tuple(data.get("applied") or ()),
            warnings=tuple(data.get("warnings") or ()),
            saved=bool(data.get("saved")),
            grown=bool(data.get("grown")),
        )
