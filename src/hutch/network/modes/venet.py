"""venet, routed like OpenVZ's: a veth pair, `venet0` inside (NOARP, addresses /32 and
/128, default route on the link), `vn<ID>` on the host (NOARP, a /32 route per address,
proxy ARP on the uplink that holds the address's subnet). No MAC to learn, no broadcast.
Both ends carry the same MAC: a NOARP device addresses every frame to its own MAC, which
the other end then takes as its own (no ARP, no broadcast, still Ethernet)."""

from __future__ import annotations

import ipaddress
from typing import Any

from hutch.errors import AlreadyExists
from hutch.network import netlink as nl
from hutch.network.spec import Held, IPAddress, NetRecord, Port, VenetPlan

NAME = "venet"
INSIDE = "venet0"
HOST_PREFIX = "vn"  # the host end: vn<ID> (hutch.network.names)


def host_side(ip: Any, venet: VenetPlan, pid: int, held: Held) -> None:
    name = venet.host
    if nl.exists(ip, name):
        raise AlreadyExists(f"venet: the host already has an interface {name}")
    for addr in venet.addresses:
        check_unrouted(ip, addr)
    ip.link(
        "add",
        ifname=name,
        kind="veth",
        address=venet.mac,
        peer={"ifname": INSIDE, "address": venet.mac, "net_ns_pid": pid},
    )
    held.host_ifs.append(name)
    _routes(ip, venet, nl.idx(ip, name), held)


def _routes(ip: Any, venet: VenetPlan, idx: int, held: Held) -> None:
    """The host end of venet: no ARP, up, host routes to the addresses, proxy ARP."""
    ip.link("set", index=idx, flags=nl.IFF_NOARP, change=nl.IFF_NOARP)
    ip.link("set", index=idx, state="up")
    forwarding({a.version for a in venet.addresses})
    uplinks = _uplinks(ip)
    for a in venet.addresses:
        ip.route("add", dst=f"{a}/{a.max_prefixlen}", oif=idx)
        for up_idx, net in uplinks:
            if a in net and a.version == 4:
                ip.neigh("add", dst=str(a), ifindex=up_idx, flags=nl.NTF_PROXY)
                held.proxies.append((str(a), up_idx))


def inside(ip: Any, venet: VenetPlan) -> None:
    idx = nl.idx(ip, INSIDE)
    ip.link("set", index=idx, flags=nl.IFF_NOARP, change=nl.IFF_NOARP)
    ip.link("set", index=idx, state="up")
    families = set()
    for a in venet.addresses:
        ip.addr("add", index=idx, address=str(a), prefixlen=a.max_prefixlen)
        families.add(a.version)
    for version in sorted(families):
        ip.route(
            "add",
            dst="0.0.0.0/0" if version == 4 else "::/0",
            oif=idx,
            scope=nl.SCOPE_LINK if version == 4 else 0,
        )


def adopt(ip: Any, venet: VenetPlan, pid: int, held: Held) -> None:
    """After a restore: the host end CRIU made gets its routes and proxy ARP again."""
    idx = nl.host_idx(ip, venet.host, "venet: restored host end")
    held.host_ifs.append(venet.host)
    ip.link("set", index=idx, state="down")
    # both ends need one MAC (see the module docstring): the inner end's, as restored (a
    # container from another host has that host's)
    ip.link("set", index=idx, address=nl.inner_mac(pid, INSIDE) or venet.mac)
    _routes(ip, venet, idx, held)


def refusal(ctid: str, venet: VenetPlan) -> str | None:
    return None  # a veth pair to CRIU


def host_end(venet: VenetPlan) -> tuple[str, str] | None:
    return INSIDE, venet.host


def port(venet: VenetPlan, record: NetRecord | None) -> Port | None:
    """Routed: the host would forward a forged source address; there are no MACs to
    check or neighbours to fool."""
    return Port(
        venet.host,
        None,
        tuple(str(a) for a in venet.addresses if a.version == 4),
        tuple(str(a) for a in venet.addresses if a.version == 6),
    )


def check_unrouted(ip: Any, a: IPAddress) -> None:
    """A venet address the host already routes somewhere is another's (or a typo)."""
    for r in ip.get_routes(family=2 if a.version == 4 else 10):
        if r["dst_len"] == a.max_prefixlen and r.get_attr("RTA_DST") == str(a):
            raise AlreadyExists(
                f"venet address {a} is already routed on this host (another container has it?)"
            )


def _uplinks(ip: Any) -> list[tuple[int, Any]]:
    """(ifindex, network) of the host's addresses: where a venet address needs proxy ARP."""
    out = []
    for a in ip.get_addr():
        if a["family"] != 2:
            continue
        net = ipaddress.ip_interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}").network
        if net.prefixlen < 32 and not net.is_loopback:
            out.append((a["index"], net))
    return out


def forwarding(versions: set[int]) -> None:
    """Routing to venet containers needs the host namespace to forward packets — only for
    the IP versions they use: IPv6 forwarding makes a host ignore router advertisements, so
    turning it on for an IPv4-only venet could cost the host its own IPv6 default route."""
    paths = {4: "/proc/sys/net/ipv4/ip_forward", 6: "/proc/sys/net/ipv6/conf/all/forwarding"}
    for version in sorted(versions):
        try:
            with open(paths[version], "w") as f:
                f.write("1")
        except OSError:
            pass


# -- live changes: a venet keeps its pair and only changes addresses -----------------------


def addresses_now(ip: Any) -> list[IPAddress]:
    """The addresses on venet0 (in the container), link-local ones left out."""
    idx = nl.idx(ip, INSIDE)
    found = []
    for a in ip.get_addr(index=idx):
        addr = ipaddress.ip_address(a.get_attr("IFA_ADDRESS"))
        if not addr.is_link_local:
            found.append(addr)
    return found


def change_inside(ip: Any, old: list[IPAddress], new: tuple[IPAddress, ...]) -> None:
    idx = nl.idx(ip, INSIDE)
    for a in old:
        if a not in new:
            ip.addr("del", index=idx, address=str(a), prefixlen=a.max_prefixlen)
    had = {a.version for a in old if a in new}
    for a in new:
        if a not in old:
            ip.addr("add", index=idx, address=str(a), prefixlen=a.max_prefixlen)
    for version in {a.version for a in new} - had:
        dst = "0.0.0.0/0" if version == 4 else "::/0"
        ip.route("replace", dst=dst, oif=idx, scope=nl.SCOPE_LINK if version == 4 else 0)


def change_host(
    ip: Any, host: str, old: list[IPAddress], new: tuple[IPAddress, ...], held: Held
) -> None:
    from pyroute2 import NetlinkError

    idx = nl.idx(ip, host)
    for a in old:
        if a not in new:
            try:
                ip.route("del", dst=f"{a}/{a.max_prefixlen}", oif=idx)
            except NetlinkError:
                pass
            for p in [p for p in held.proxies if p[0] == str(a)]:
                try:
                    ip.neigh("del", dst=p[0], ifindex=p[1], flags=nl.NTF_PROXY)
                except NetlinkError:
                    pass
                held.proxies.remove(p)
    added = [a for a in new if a not in old]
    for a in added:
        check_unrouted(ip, a)
    forwarding({a.version for a in added})
    uplinks = _uplinks(ip)
    for a in added:
        ip.route("add", dst=f"{a}/{a.max_prefixlen}", oif=idx)
        for up_idx, net in uplinks:
            if a in net and a.version == 4:
                ip.neigh("add", dst=str(a), ifindex=up_idx, flags=nl.NTF_PROXY)
                held.proxies.append((str(a), up_idx))
