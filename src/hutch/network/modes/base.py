"""What every interface mode shares: configuring an interface inside the container's
namespace, and the refusal of the modes a checkpoint cannot carry."""

from __future__ import annotations

from typing import Any

from hutch.network import netlink as nl
from hutch.network.spec import Held, Netif, NetifPlan


def configure_inside(ip: Any, n: NetifPlan) -> None:
    """In the container's namespace: MTU, up, its addresses and default routes."""
    idx = nl.idx(ip, n.ifname)
    if n.mtu:
        ip.link("set", index=idx, mtu=n.mtu)
    ip.link("set", index=idx, state="up")
    for iface in n.ip:
        ip.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
    for gw in n.gateway:
        dst = "0.0.0.0/0" if gw.version == 4 else "::/0"
        ip.route("add", dst=dst, gateway=str(gw), oif=idx)


def not_checkpointable(ctid: str, n: NetifPlan) -> str:
    return (
        f"container {ctid}: a {n.type} interface ({n.ifname}) cannot be "
        "checkpointed; veth, venet and containers without a network can"
    )


def add_child_link(ip: Any, n: NetifPlan, pid: int, **extra: Any) -> None:
    """A macvlan or vlan: a child of a host link, created straight in the container's
    namespace (it has no host end)."""
    ip.link(
        "add",
        ifname=n.ifname,
        kind=n.type,
        link=nl.host_idx(ip, n.link or "", f"{n.ifname}: link="),
        address=n.mac,
        net_ns_pid=pid,
        **extra,
    )


def check_child_link(n: Netif) -> None:
    """What a macvlan and a vlan share: a parent, and nothing of a veth's."""
    if not n.link:
        raise ValueError(f"{n.ifname}: a {n.type} needs link=PARENT (a host interface)")
    if n.bridge or n.host_ifname or n.host_mac or n.nat:
        raise ValueError(f"{n.ifname}: bridge/host_ifname/host_mac/nat are for veth")


def no_adopt(ip: Any, n: NetifPlan, pid: int, held: Held) -> None:
    """A checkpoint refuses the modes CRIU cannot carry (`refusal`): never reached."""
    from hutch.errors import StateConflict

    raise StateConflict(not_checkpointable("?", n))
