"""Set up and tear down a container's network interfaces with netlink (pyroute2).

Runs in a worker process (hutch.linux.worker): the host side in the host's network
namespace, then the container side after setns into the container's. Interfaces are created
with their container end directly inside the container's namespace, under their final name,
so a failure never leaves a half-named device on the host.

    venet   a veth pair: `venet0` inside (NOARP, addresses /32 and /128, default route on
            the link), `vn<ID>` on the host (NOARP, a /32 route per address, proxy ARP on
            the uplink that holds the address's subnet). No MAC to learn, no broadcast.
    veth    `ethN` inside with its MAC; the host end on a bridge (created if missing).
    macvlan a macvlan of a host link, in private, vepa, bridge or passthru mode.
    vlan    a VLAN of a host link: needs the kernel's 8021q.
    phys    a host NIC moved in (netdev), moved back before the namespace goes.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from hutch.linux import syscalls as sc

IFF_NOARP = 0x80
NTF_PROXY = 0x08
SCOPE_LINK = 253
HUTCH_ALIAS = "created by hutch"


def _setns_pid(pid: int) -> None:
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(fd, sc.CLONE_NEWNET, f"net of {pid}")
    finally:
        os.close(fd)


def _idx(ip: Any, name: str) -> int:
    found = ip.link_lookup(ifname=name)
    if not found:
        raise OSError(f"no interface {name}")
    return int(found[0])


def _exists(ip: Any, name: str) -> bool:
    return bool(ip.link_lookup(ifname=name))


# -- start -------------------------------------------------------------------------------


def start(plan: dict[str, Any], pid: int) -> dict[str, Any]:
    """Worker body: host side, then container side. Returns what teardown needs."""
    from pyroute2 import IPRoute

    record: dict[str, Any] = {"host_ifs": [], "proxies": [], "bridges": [], "netdevs": []}
    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with IPRoute() as ip:
            try:
                _host_side(ip, plan, pid, record)
            except BaseException:
                _teardown_host(ip, record)
                raise
        _setns_pid(pid)
        try:
            with IPRoute() as ip:
                _inside(ip, plan)
        except BaseException:
            sc.setns(host_fd, sc.CLONE_NEWNET, "host net")
            with IPRoute() as ip:
                _teardown_host(ip, record)
            raise
    finally:
        os.close(host_fd)
    return record


def _host_side(ip: Any, plan: dict[str, Any], pid: int, record: dict[str, Any]) -> None:
    for n in plan["netifs"]:
        if n["type"] == "veth":
            _veth(ip, n, pid, record)
        elif n["type"] == "macvlan":
            ip.link(
                "add",
                ifname=n["ifname"],
                kind="macvlan",
                link=_idx(ip, n["link"]),
                macvlan_mode=n["mode"],
                address=n["mac"],
                net_ns_pid=pid,
            )
        elif n["type"] == "vlan":
            if not os.path.exists("/proc/net/vlan") and not os.path.exists("/sys/module/8021q"):
                from hutch.errors import KernelFeatureMissing

                raise KernelFeatureMissing(
                    f"{n['ifname']}: VLAN interfaces need the kernel's 8021q module, which "
                    "this kernel does not have"
                )
            ip.link(
                "add",
                ifname=n["ifname"],
                kind="vlan",
                link=_idx(ip, n["link"]),
                vlan_id=n["vlan"],
                address=n["mac"],
                net_ns_pid=pid,
            )
    if plan["venet"]:
        _venet_host(ip, plan["venet"], pid, record)
    for dev in plan["netdevs"]:
        ip.link("set", index=_idx(ip, dev), net_ns_pid=pid)
        record["netdevs"].append(dev)


def _veth(ip: Any, n: dict[str, Any], pid: int, record: dict[str, Any]) -> None:
    if _exists(ip, n["host_ifname"]):
        raise OSError(f"host interface {n['host_ifname']} already exists")
    ip.link(
        "add",
        ifname=n["host_ifname"],
        kind="veth",
        address=n["host_mac"],
        peer={"ifname": n["ifname"], "address": n["mac"], "net_ns_pid": pid},
    )
    record["host_ifs"].append(n["host_ifname"])
    host = _idx(ip, n["host_ifname"])
    if n["mtu"]:
        ip.link("set", index=host, mtu=n["mtu"])
    if n["bridge"]:
        if not _exists(ip, n["bridge"]):
            ip.link("add", ifname=n["bridge"], kind="bridge")
            br = _idx(ip, n["bridge"])
            ip.link("set", index=br, ifalias=HUTCH_ALIAS, state="up")
        # every bridge used: the last container to leave one hutch made removes it
        record["bridges"].append(n["bridge"])
        ip.link("set", index=host, master=_idx(ip, n["bridge"]))
    ip.link("set", index=host, state="up")


def _venet_host(ip: Any, venet: dict[str, Any], pid: int, record: dict[str, Any]) -> None:
    name = venet["host"]
    if _exists(ip, name):
        raise OSError(f"host interface {name} already exists")
    # Both ends carry the same MAC: a NOARP device addresses every frame to its own MAC,
    # which the other end then takes as its own (no ARP, no broadcast, still Ethernet).
    ip.link(
        "add",
        ifname=name,
        kind="veth",
        address=venet["mac"],
        peer={"ifname": "venet0", "address": venet["mac"], "net_ns_pid": pid},
    )
    record["host_ifs"].append(name)
    idx = _idx(ip, name)
    ip.link("set", index=idx, flags=IFF_NOARP, change=IFF_NOARP)
    ip.link("set", index=idx, state="up")
    _forwarding(True)
    uplinks = _uplinks(ip)
    for addr in venet["addresses"]:
        a = ipaddress.ip_address(addr)
        ip.route("add", dst=f"{a}/{a.max_prefixlen}", oif=idx)
        for up_idx, net in uplinks:
            if a in net and a.version == 4:
                ip.neigh("add", dst=str(a), ifindex=up_idx, flags=NTF_PROXY)
                record["proxies"].append([str(a), up_idx])


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


def _forwarding(on: bool) -> None:
    """Routing to venet containers needs the host namespace to forward packets."""
    for path in ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"):
        try:
            with open(path, "w") as f:
                f.write("1" if on else "0")
        except OSError:
            pass


def _inside(ip: Any, plan: dict[str, Any]) -> None:
    for n in plan["netifs"]:
        idx = _idx(ip, n["ifname"])
        if n["mtu"]:
            ip.link("set", index=idx, mtu=n["mtu"])
        ip.link("set", index=idx, state="up")
        for cidr in n["ip"]:
            iface = ipaddress.ip_interface(cidr)
            ip.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        for gw in n["gateway"]:
            dst = "0.0.0.0/0" if ipaddress.ip_address(gw).version == 4 else "::/0"
            ip.route("add", dst=dst, gateway=gw, oif=idx)
    if plan["venet"]:
        idx = _idx(ip, "venet0")
        ip.link("set", index=idx, flags=IFF_NOARP, change=IFF_NOARP)
        ip.link("set", index=idx, state="up")
        families = set()
        for addr in plan["venet"]["addresses"]:
            a = ipaddress.ip_address(addr)
            ip.addr("add", index=idx, address=str(a), prefixlen=a.max_prefixlen)
            families.add(a.version)
        for version in sorted(families):
            ip.route(
                "add",
                dst="0.0.0.0/0" if version == 4 else "::/0",
                oif=idx,
                scope=SCOPE_LINK if version == 4 else 0,
            )
    for dev in plan["netdevs"]:
        ip.link("set", index=_idx(ip, dev), state="up")


# -- stop --------------------------------------------------------------------------------


def stop(record: dict[str, Any], netns_path: str | None) -> None:
    """Worker body: give host NICs back (from the container's namespace, kept alive by
    hutchd), then remove what the host side holds."""
    from pyroute2 import IPRoute

    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if record.get("netdevs") and netns_path:
            ct_fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(ct_fd, sc.CLONE_NEWNET, "container net")
            finally:
                os.close(ct_fd)
            with IPRoute() as ip:
                for dev in record["netdevs"]:
                    found = ip.link_lookup(ifname=dev)
                    if found:
                        ip.link("set", index=found[0], state="down")
                        ip.link("set", index=found[0], net_ns_fd=host_fd)
            sc.setns(host_fd, sc.CLONE_NEWNET, "host net")
        with IPRoute() as ip:
            _teardown_host(ip, record)
    finally:
        os.close(host_fd)


def _teardown_host(ip: Any, record: dict[str, Any]) -> None:
    """Remove what hutch added on the host; "already gone" is fine."""
    from pyroute2 import NetlinkError

    for addr, idx in record.get("proxies", []):
        try:
            ip.neigh("del", dst=addr, ifindex=idx, flags=NTF_PROXY)
        except NetlinkError:
            pass
    for name in record.get("host_ifs", []):
        for idx in ip.link_lookup(ifname=name):
            try:
                ip.link("del", index=idx)
            except NetlinkError:
                pass
    for br in record.get("bridges", []):
        found = ip.link_lookup(ifname=br)
        if not found:
            continue
        ours = ip.get_links(found[0])[0].get_attr("IFLA_IFALIAS") == HUTCH_ALIAS
        ports = [link for link in ip.get_links() if link.get_attr("IFLA_MASTER") == found[0]]
        if ours and not ports:
            try:
                ip.link("del", index=found[0])
            except NetlinkError:
                pass


# -- live changes ------------------------------------------------------------------------


def reconcile(
    old: dict[str, Any], new: dict[str, Any], pid: int, record: dict[str, Any]
) -> dict[str, Any]:
    """Worker body for `hutch set` on a running container: make the network match `new`.

    Interfaces are compared by name; a venet keeps its pair and only changes addresses.
    Returns the updated teardown record."""
    from pyroute2 import IPRoute

    old_ifs = {n["ifname"]: n for n in old["netifs"]}
    new_ifs = {n["ifname"]: n for n in new["netifs"]}
    gone = [n for name, n in old_ifs.items() if name not in new_ifs or new_ifs[name] != n]
    added = [n for name, n in new_ifs.items() if name not in old_ifs or old_ifs[name] != n]
    devs_gone = [d for d in old["netdevs"] if d not in new["netdevs"]]
    devs_added = [d for d in new["netdevs"] if d not in old["netdevs"]]
    venet_old, venet_new = old["venet"], new["venet"]

    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        # inside first: remove interfaces (a veth pair goes as a whole), hand NICs back
        _setns_pid(pid)
        with IPRoute() as ip:
            for n in gone:
                for idx in ip.link_lookup(ifname=n["ifname"]):
                    ip.link("del", index=idx)
            for dev in devs_gone:
                for idx in ip.link_lookup(ifname=dev):
                    ip.link("set", index=idx, state="down")
                    ip.link("set", index=idx, net_ns_fd=host_fd)
            if venet_old and not venet_new:
                for idx in ip.link_lookup(ifname="venet0"):
                    ip.link("del", index=idx)
            elif venet_old and venet_new:
                _venet_addresses_inside(ip, venet_old["addresses"], venet_new["addresses"])
        sc.setns(host_fd, sc.CLONE_NEWNET, "host net")
        with IPRoute() as ip:
            record["host_ifs"] = [
                h for h in record["host_ifs"] if h not in {n["host_ifname"] for n in gone}
            ]
            record["netdevs"] = [d for d in record["netdevs"] if d not in devs_gone]
            if venet_old and not venet_new:
                _teardown_host(ip, {"host_ifs": [venet_old["host"]], "proxies": record["proxies"]})
                record["host_ifs"] = [h for h in record["host_ifs"] if h != venet_old["host"]]
                record["proxies"] = []
            elif venet_old and venet_new:
                _venet_addresses_host(ip, venet_old, venet_new, record)
        # then add, with the start path
        sub = {
            "ctid": new["ctid"],
            "netifs": added,
            "venet": venet_new if venet_new and not venet_old else None,
            "netdevs": devs_added,
        }
        if sub["netifs"] or sub["venet"] or sub["netdevs"]:
            more = start(sub, pid)
            for key in ("host_ifs", "proxies", "bridges", "netdevs"):
                record[key] = record.get(key, []) + more[key]
    finally:
        os.close(host_fd)
    return record


def _venet_addresses_inside(ip: Any, old: list[str], new: list[str]) -> None:
    idx = _idx(ip, "venet0")
    for addr in old:
        if addr not in new:
            a = ipaddress.ip_address(addr)
            ip.addr("del", index=idx, address=str(a), prefixlen=a.max_prefixlen)
    had = {ipaddress.ip_address(a).version for a in old}
    for addr in new:
        if addr not in old:
            a = ipaddress.ip_address(addr)
            ip.addr("add", index=idx, address=str(a), prefixlen=a.max_prefixlen)
            if a.version not in had:
                ip.route(
                    "add",
                    dst="0.0.0.0/0" if a.version == 4 else "::/0",
                    oif=idx,
                    scope=SCOPE_LINK if a.version == 4 else 0,
                )
                had.add(a.version)


def _venet_addresses_host(
    ip: Any, old: dict[str, Any], new: dict[str, Any], record: dict[str, Any]
) -> None:
    from pyroute2 import NetlinkError

    idx = _idx(ip, old["host"])
    for addr in old["addresses"]:
        if addr not in new["addresses"]:
            a = ipaddress.ip_address(addr)
            try:
                ip.route("del", dst=f"{a}/{a.max_prefixlen}", oif=idx)
            except NetlinkError:
                pass
            for p in [p for p in record["proxies"] if p[0] == str(a)]:
                try:
                    ip.neigh("del", dst=p[0], ifindex=p[1], flags=NTF_PROXY)
                except NetlinkError:
                    pass
                record["proxies"].remove(p)
    uplinks = _uplinks(ip)
    for addr in new["addresses"]:
        if addr not in old["addresses"]:
            a = ipaddress.ip_address(addr)
            ip.route("add", dst=f"{a}/{a.max_prefixlen}", oif=idx)
            for up_idx, net in uplinks:
                if a in net and a.version == 4:
                    ip.neigh("add", dst=str(a), ifindex=up_idx, flags=NTF_PROXY)
                    record["proxies"].append([str(a), up_idx])
