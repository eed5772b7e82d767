"""vlan: a VLAN (vlan=ID) of a host link (link=), made straight in the container's
namespace; needs the kernel's 8021q. No host end (see macvlan), no checkpoint."""

from __future__ import annotations

import os
from typing import Any

from hutch.errors import KernelFeatureMissing
from hutch.network.modes.base import (
    add_child_link,
    check_child_link,
    configure_inside,
    no_adopt,
    not_checkpointable,
)
from hutch.network.spec import Held, Netif, NetifPlan, NetRecord, Port

NAME = "vlan"


def check(n: Netif) -> None:
    check_child_link(n)
    if n.vlan is None:
        raise ValueError(f"{n.ifname}: a vlan needs vlan=ID")
    if n.mode:
        raise ValueError(f"{n.ifname}: mode= is for macvlan")


def host_side(ip: Any, n: NetifPlan, pid: int, held: Held) -> None:
    if not (os.path.exists("/proc/net/vlan") or os.path.exists("/sys/module/8021q")):
        raise KernelFeatureMissing(
            f"{n.ifname}: VLAN interfaces need the kernel's 8021q module, which "
            "this kernel does not have"
        )
    add_child_link(ip, n, pid, vlan_id=n.vlan)


inside = configure_inside
adopt = no_adopt


def refusal(ctid: str, n: NetifPlan) -> str | None:
    return not_checkpointable(ctid, n)


def host_end(n: NetifPlan) -> tuple[str, str] | None:
    return None


def port(n: NetifPlan, record: NetRecord | None) -> Port | None:
    return None
