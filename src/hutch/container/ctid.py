"""Container IDs at the library's edge: one from a person (argv, a config, a request path)
checked (hutch.ids says what is wrong, this turns it into the UsageError every caller
reports), and the IDs of a root's containers. Light on purpose: the CLI's hot verbs use it,
and lifecycle and info both build on it without importing each other."""

from __future__ import annotations

import os

from hutch import ids
from hutch.errors import UsageError
from hutch.paths import Paths


def valid_id(ctid: str) -> str:
    """`ctid` if it is a valid container ID, else UsageError with hutch.ids' message and hint."""
    try:
        return ids.validate(ctid)
    except ids.InvalidId as e:
        raise UsageError(e.message, hint=e.hint) from None


def container_ids(paths: Paths) -> list[str]:
    """Every container of this root, numbers first (in order), then names."""
    try:
        names = os.listdir(paths.containers)
    except FileNotFoundError:
        return []
    return sorted(
        (n for n in names if (paths.containers / n / "config.toml").is_file()), key=ids.sort_key
    )
