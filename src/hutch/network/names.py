"""Names and addresses hutch makes up for a container's links, stable across restarts."""

from __future__ import annotations

import hashlib


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\0".join(parts).encode()).digest()


def stable_mac(root: str, ctid: str, ifname_: str, side: str = "ct") -> str:
    """A locally administered unicast MAC that stays the same across restarts."""
    d = _digest(root, ctid, ifname_, side)
    return ":".join(f"{b:02x}" for b in (0x02, *d[:5]))


def host_name(prefix: str, ctid: str, index: int | None = None, root: str = "/") -> str:
    """`veth101.0`, `vn101` — or a hash when the ID makes it longer than 15 characters."""
    tail = "" if index is None else f".{index}"
    name = f"{prefix}{ctid}{tail}"
    if len(name) <= 15 and root == "/":
        return name
    return f"{prefix}{_digest(root, ctid).hex()[: 15 - len(prefix) - len(tail)]}{tail}"
