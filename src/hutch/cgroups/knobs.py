"""Reading and writing cgroup interface files, with errors that name the file."""

from __future__ import annotations

import os
from pathlib import Path

from hutch.errors import OperationFailed


def write(group: Path, knob: str, value: str | int) -> None:
    path = group / knob
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise OperationFailed(f"cannot open {path}: {e.strerror}") from None
    try:
        os.write(fd, str(value).encode())
    except OSError as e:
        raise OperationFailed(f"cannot write {value!r} to {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def read(group: Path, knob: str) -> str | None:
    """The file's text, or None where the kernel does not offer it."""
    try:
        with open(group / knob) as f:
            return f.read()
    except (FileNotFoundError, OSError):
        return None


def read_int(group: Path, knob: str) -> int | None:
    text = read(group, knob)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def flat_keyed(group: Path, knob: str) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, pids.events, ...) as a dict."""
    return parse_flat_keyed(read(group, knob) or "")


def parse_flat_keyed(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def has(group: Path, knob: str) -> bool:
    return (group / knob).exists()
