"""Typed values of the resource keys that are more than a number: OpenVZ `barrier:limit`
pairs and per-device IO rates. hutch.config.units parses their text into these and renders
them back; everything after the edge reads the numbers and never parses again.

Whether a number is bytes, pages or a count is the key's (its renderer knows), not the
value's: a `Pair` of bytes and one of pages compare by their numbers alone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    """OpenVZ's `BARRIER:LIMIT` (one value written: both); None is unlimited."""

    barrier: int | None
    limit: int | None


@dataclass(frozen=True)
class IoRate:
    """One `DEVICE=READ[:WRITE]` rule: bytes or operations per second; None is unlimited.
    The device as written (a name, /dev path or MAJOR:MINOR), resolved when applied."""

    device: str
    read: int | None
    write: int | None
