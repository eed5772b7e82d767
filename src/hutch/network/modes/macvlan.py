"""macvlan: a child of a host link (link=), in private, vepa, bridge, passthru or source
mode, made straight in the container's namespace. No host end: its frames reach the
host's segment without passing the host's namespace, so there is nothing to filter
there, and CRIU cannot checkpoint it."""

from __future__ import annotations

from typing import Any

from hutch.network.modes.base import (
    add_child_link,
    check_child_link,
    configure_inside,
    no_adopt,
    not_checkpointable,
)
from hutch.network.spec import Held, Netif, NetifPlan, NetRecord, Port

NAME = "macvlan"
MODES = ("private", "vepa", "bridge", "passthru", "source")
DEFAULT_MODE = "bridge"


def check(n: Netif) -> None:
    check_child_link(n)


def host_side(ip: Any, n: NetifPlan, pid: int, held: Held) -> None:
    add_child_link(ip, n, pid, macvlan_mode=n.mode)


inside = configure_inside
adopt = no_adopt


def refusal(ctid: str, n: NetifPlan) -> str | None:
    return not_checkpointable(ctid, n)


def host_end(n: NetifPlan) -> tuple[str, str] | None:
    return None


def port(n: NetifPlan, record: NetRecord | None) -> Port | None:
    return None
