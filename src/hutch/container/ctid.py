"""A container ID from a person (argv, a config, a request path), checked at the library's
edge: hutch.ids says what is wrong, this turns it into the UsageError every caller reports.
Light on purpose: the CLI's hot verbs check their ID through it."""

from __future__ import annotations

from hutch import ids
from hutch.errors import UsageError


def valid_id(ctid: str) -> str:
    """`ctid` if it is a valid container ID, else UsageError with hutch.ids' message and hint."""
    try:
        return ids.validate(ctid)
    except ids.InvalidId as e:
        raise UsageError(e.message, hint=e.hint) from None
