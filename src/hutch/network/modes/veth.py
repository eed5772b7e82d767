"""veth: `ethN` inside with its MAC; the host end (`veth<ID>.<N>`) on a bridge, created
(and marked as hutch's) if missing. The host end is in the host's namespace: filtered
against spoofing, and kept across a checkpoint (CRIU remakes the pair)."""

from __future__ import annotations

from typing import Any

from hutch.errors import AlreadyExists
from hutch.network import netlink as nl
from hutch.network.modes.base import configure_inside
from hutch.network.spec import Held, Netif, NetifPlan, NetRecord, Port

NAME = "veth"
HOST_PREFIX = "veth"  # the host ends: veth<ID>.<N> (hutch.network.names)


def check(n: Netif) -> None:
    if n.link:
        raise ValueError(f"{n.ifname}: link= is for macvlan and vlan (veth uses bridge=)")
    if n.mode:
        raise ValueError(f"{n.ifname}: mode= is for macvlan")
    if n.nat and not n.bridge:
        raise ValueError(f"{n.ifname}: nat=yes masquerades a bridge: give bridge=")


def host_side(ip: Any, n: NetifPlan, pid: int, held: Held) -> None:
    if nl.exists(ip, n.host_ifname):
        raise AlreadyExists(
            f"{n.ifname}: the host already has an interface {n.host_ifname}",
            hint="choose another host_ifname=",
        )
    ip.link(
        "add",
        ifname=n.host_ifname,
        kind="veth",
        address=n.host_mac,
        peer={"ifname": n.ifname, "address": n.mac, "net_ns_pid": pid},
    )
    held.host_ifs.append(n.host_ifname)
    host = nl.idx(ip, n.host_ifname)
    if n.mtu:
        ip.link("set", index=host, mtu=n.mtu)
    if n.bridge:
        attach_bridge(ip, n.bridge, host, held)
    ip.link("set", index=host, state="up")


inside = configure_inside


def adopt(ip: Any, n: NetifPlan, pid: int, held: Held) -> None:
    """After a restore: CRIU made the pair and named its host end; give that end what a
    start gives it (MAC, MTU, bridge)."""
    host = nl.host_idx(ip, n.host_ifname, f"{n.ifname}: restored host end")
    held.host_ifs.append(n.host_ifname)
    inner = nl.inner_mac(pid, n.ifname)
    if inner and inner != n.mac:  # restored from another host's plan
        held.inner_macs[n.ifname] = inner
    ip.link("set", index=host, state="down")
    ip.link("set", index=host, address=n.host_mac)
    if n.mtu:
        ip.link("set", index=host, mtu=n.mtu)
    if n.bridge:
        attach_bridge(ip, n.bridge, host, held)
    ip.link("set", index=host, state="up")


def refusal(ctid: str, n: NetifPlan) -> str | None:
    return None  # CRIU dumps a veth pair and remakes it


def host_end(n: NetifPlan) -> tuple[str, str] | None:
    """(the name inside, the host end's) for CRIU's --external veth[...]."""
    return n.ifname, n.host_ifname


def port(n: NetifPlan, record: NetRecord | None) -> Port | None:
    """The host end and what may come out of it: its MAC (the restored one, if another
    host's), and its static addresses (none given: learnt inside, not checked)."""
    mac = (record.inner_mac(n.ifname) if record else None) or n.mac
    ipv4: tuple[str, ...] | None = None
    ipv6: tuple[str, ...] | None = None
    if n.ip:  # static: exactly these; else learnt inside, not checked
        addrs = [i.ip for i in n.ip]
        ipv4 = tuple(str(a) for a in addrs if a.version == 4)
        ipv6 = tuple(str(a) for a in addrs if a.version == 6)
    return Port(n.host_ifname, mac, ipv4, ipv6, link_local=False)


def attach_bridge(ip: Any, bridge: str, host: int, held: Held) -> None:
    if not nl.exists(ip, bridge):
        ip.link("add", ifname=bridge, kind="bridge")
        br = nl.idx(ip, bridge)
        ip.link("set", index=br, ifalias=nl.HUTCH_ALIAS, state="up")
    # every bridge used: the last container to leave one hutch made removes it
    held.bridges.append(bridge)
    ip.link("set", index=host, master=nl.idx(ip, bridge))
