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
from collections.abc import Callable
from typing import Any

from hutch.errors import AlreadyExists, HutchError, NotFound, OperationFailed
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


def _host_idx(ip: Any, name: str, what: str) -> int:
    found = ip.link_lookup(ifname=name)
    if not found:
        raise NotFound(f"{what}: the host has no network interface {name}")
    return int(found[0])


def _translated(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """fn(*args); a refusal of the kernel (netlink error, OSError) becomes an
    OperationFailed naming `what` and the reason, so a person reads one clear line."""
    from pyroute2 import NetlinkError

    try:
        return fn(*args)
    except HutchError:
        raise
    except NetlinkError as e:
        reason = os.strerror(e.code) if isinstance(e.code, int) and e.code > 0 else str(e)
        raise OperationFailed(f"{what}: {reason}") from None
    except OSError as e:
        raise OperationFailed(f"{what}: {e.strerror or e}") from None


# -- start -------------------------------------------------------------------------------


def start(plan: dict[str, Any], pid: int) -> dict[str, Any]:
    """Worker body: host side, then container side. Returns what teardown needs."""
    return _translated(f"network of container {plan['ctid']}", _start, plan, pid)


def _new_record(plan: dict[str, Any]) -> dict[str, Any]:
    """What teardown and live changes need: filled by a start or a restore's adopt."""
    return {
        "host_ifs": [],
        "proxies": [],
        "bridges": [],
        "netdevs": [],
        "specs": {n["ifname"]: n for n in plan["netifs"]},  # what runs, for live changes
        # the MACs inside when they are not the plan's (a restore): the port filter's
        "inner_macs": {},
    }


def _start(plan: dict[str, Any], pid: int) -> dict[str, Any]:
    from pyroute2 import IPRoute

    record = _new_record(plan)
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
        elif n["type"] in ("macvlan", "vlan"):
            if n["type"] == "vlan" and not (
                os.path.exists("/proc/net/vlan") or os.path.exists("/sys/module/8021q")
            ):
                from hutch.errors import KernelFeatureMissing

                raise KernelFeatureMissing(
                    f"{n['ifname']}: VLAN interfaces need the kernel's 8021q module, which "
                    "this kernel does not have"
                )
            # both are children of a host link, created straight in the container's netns
            extra = (
                {"macvlan_mode": n["mode"]} if n["type"] == "macvlan" else {"vlan_id": n["vlan"]}
            )
            ip.link(
                "add",
                ifname=n["ifname"],
                kind=n["type"],
                link=_host_idx(ip, n["link"], f"{n['ifname']}: link="),
                address=n["mac"],
                net_ns_pid=pid,
                **extra,
            )
    if plan["venet"]:
        _venet_host(ip, plan["venet"], pid, record)
    for dev in plan["netdevs"]:
        ip.link("set", index=_host_idx(ip, dev, "netdev"), net_ns_pid=pid)
        record["netdevs"].append(dev)


def _veth(ip: Any, n: dict[str, Any], pid: int, record: dict[str, Any]) -> None:
    if _exists(ip, n["host_ifname"]):
        raise AlreadyExists(
            f"{n['ifname']}: the host already has an interface {n['host_ifname']}",
            hint="choose another host_ifname=",
        )
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
        _attach_bridge(ip, n["bridge"], host, record)
    ip.link("set", index=host, state="up")


def _venet_host(ip: Any, venet: dict[str, Any], pid: int, record: dict[str, Any]) -> None:
    name = venet["host"]
    if _exists(ip, name):
        raise AlreadyExists(f"venet: the host already has an interface {name}")
    for addr in venet["addresses"]:
        _check_unrouted(ip, addr)
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
    _venet_routes(ip, venet, _idx(ip, name), record)


def _venet_routes(ip: Any, venet: dict[str, Any], idx: int, record: dict[str, Any]) -> None:
    """The host end of venet: no ARP, up, host routes to the addresses, proxy ARP."""
    ip.link("set", index=idx, flags=IFF_NOARP, change=IFF_NOARP)
    ip.link("set", index=idx, state="up")
    _forwarding({ipaddress.ip_address(a).version for a in venet["addresses"]})
    uplinks = _uplinks(ip)
    for addr in venet["addresses"]:
        a = ipaddress.ip_address(addr)
        ip.route("add", dst=f"{a}/{a.max_prefixlen}", oif=idx)
        for up_idx, net in uplinks:
            if a in net and a.version == 4:
                ip.neigh("add", dst=str(a), ifindex=up_idx, flags=NTF_PROXY)
                record["proxies"].append([str(a), up_idx])


def adopt(plan: dict[str, Any], pid: int) -> dict[str, Any]:
    """Worker body, after a restore: CRIU recreated each veth pair inside and named its host
    end; give those ends back what a start gives them (MAC, MTU, bridge, routes, proxy ARP).
    Returns what teardown needs, as `start` does."""
    return _translated(f"network of container {plan['ctid']}", _adopt, plan, pid)


def _adopt(plan: dict[str, Any], pid: int) -> dict[str, Any]:
    from pyroute2 import IPRoute

    record = _new_record(plan)
    with IPRoute() as ip:
        try:
            for n in plan["netifs"]:
                host = _host_idx(ip, n["host_ifname"], f"{n['ifname']}: restored host end")
                record["host_ifs"].append(n["host_ifname"])
                if n["type"] == "veth":
                    inner = _inner_mac(pid, n["ifname"])
                    if inner and inner != n["mac"]:  # restored from another host's plan
                        record["inner_macs"][n["ifname"]] = inner
                ip.link("set", index=host, state="down")
                ip.link("set", index=host, address=n["host_mac"])
                if n["mtu"]:
                    ip.link("set", index=host, mtu=n["mtu"])
                if n["bridge"]:
                    _attach_bridge(ip, n["bridge"], host, record)
                ip.link("set", index=host, state="up")
            if plan["venet"]:
                venet = plan["venet"]
                idx = _host_idx(ip, venet["host"], "venet: restored host end")
                record["host_ifs"].append(venet["host"])
                ip.link("set", index=idx, state="down")
                # both ends need one MAC (see _venet_host): the inner end's, as restored (a
                # container from another host has that host's)
                ip.link("set", index=idx, address=_inner_mac(pid, "venet0") or venet["mac"])
                _venet_routes(ip, venet, idx, record)
        except BaseException:
            _teardown_host(ip, record)
            raise
    return record


def _inner_mac(pid: int, ifname: str) -> str | None:
    """The MAC of `ifname` inside the network namespace of process `pid` (None if absent)."""
    from pyroute2 import IPRoute

    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns_pid(pid)
        try:
            with IPRoute() as ip:
                found = ip.link_lookup(ifname=ifname)
                return ip.get_links(found[0])[0].get_attr("IFLA_ADDRESS") if found else None
        finally:
            sc.setns(host_fd, sc.CLONE_NEWNET, "host net")
    finally:
        os.close(host_fd)


def reclaim(names: list[str], scratch_fd: int) -> None:
    """Worker body, after a restore: move the host ends `names` from the scratch network
    namespace criu ran in (`scratch_fd`) to this one, the host's."""
    from pyroute2 import IPRoute

    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(scratch_fd, sc.CLONE_NEWNET, "criu's scratch net")
        with IPRoute() as ip:
            for name in names:
                ip.link("set", index=_host_idx(ip, name, "restored host end"), net_ns_fd=host_fd)
        sc.setns(host_fd, sc.CLONE_NEWNET, "host net")
    finally:
        os.close(host_fd)


def _attach_bridge(ip: Any, bridge: str, host: int, record: dict[str, Any]) -> None:
    if not _exists(ip, bridge):
        ip.link("add", ifname=bridge, kind="bridge")
        br = _idx(ip, bridge)
        ip.link("set", index=br, ifalias=HUTCH_ALIAS, state="up")
    # every bridge used: the last container to leave one hutch made removes it
    record["bridges"].append(bridge)
    ip.link("set", index=host, master=_idx(ip, bridge))


def _check_unrouted(ip: Any, addr: str) -> None:
    """A venet address the host already routes somewhere is another's (or a typo)."""
    a = ipaddress.ip_address(addr)
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


def _forwarding(versions: set[int]) -> None:
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

    `old` is the plan of the saved config; what runs may differ (an earlier `set` without
    --save, a change half applied and rolled back), so the kernel is asked what is there:
    an interface is (re)made when its spec changed or it is missing, removed when the new
    plan drops it; venet addresses are compared with those on venet0. A venet keeps its
    pair and only changes addresses. Returns the updated teardown record."""
    return _translated(f"network of container {new['ctid']}", _reconcile, old, new, pid, record)


def _reconcile(
    old: dict[str, Any], new: dict[str, Any], pid: int, record: dict[str, Any]
) -> dict[str, Any]:
    from pyroute2 import IPRoute

    # the specs last applied (kept in the record) are what runs; the saved plan when an
    # older record has none
    applied: dict[str, Any] = dict(record.get("specs") or {n["ifname"]: n for n in old["netifs"]})
    record = {  # a copy; other keys (nat's "nft") pass through untouched
        **record,
        **{key: list(record.get(key, [])) for key in ("host_ifs", "proxies", "bridges", "netdevs")},
    }
    new_ifs = {n["ifname"]: n for n in new["netifs"]}
    venet_new = new["venet"]

    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        # inside first: what is there, then remove interfaces (a veth pair goes as a
        # whole) and hand NICs back
        _setns_pid(pid)
        with IPRoute() as ip:
            present = {link.get_attr("IFLA_IFNAME") for link in ip.get_links()}
            added = [
                n for name, n in new_ifs.items() if name not in present or applied.get(name) != n
            ]
            gone = (set(applied) | {n["ifname"] for n in old["netifs"]}) - set(new_ifs)
            doomed = (gone | {n["ifname"] for n in added}) & present
            for name in doomed:
                for idx in ip.link_lookup(ifname=name):
                    ip.link("del", index=idx)
            devs_gone = [d for d in record["netdevs"] if d not in new["netdevs"] and d in present]
            for dev in devs_gone:
                for idx in ip.link_lookup(ifname=dev):
                    ip.link("set", index=idx, state="down")
                    ip.link("set", index=idx, net_ns_fd=host_fd)
            devs_added = [d for d in new["netdevs"] if d not in present]
            venet_now = None  # the addresses venet0 has, if there is one
            if "venet0" in present:
                venet_now = _venet_addresses(ip)
                if not venet_new:
                    for idx in ip.link_lookup(ifname="venet0"):
                        ip.link("del", index=idx)
                else:
                    _venet_addresses_inside(ip, venet_now, venet_new["addresses"])
        sc.setns(host_fd, sc.CLONE_NEWNET, "host net")
        # an interface made again has the plan's MAC
        inner = record.get("inner_macs") or {}
        record["inner_macs"] = {k: v for k, v in inner.items() if k not in doomed | gone}
        with IPRoute() as ip:
            # their host ends went with them (a veth pair goes as a whole)
            dropped = {applied[name]["host_ifname"] for name in doomed if name in applied}
            record["host_ifs"] = [h for h in record["host_ifs"] if h not in dropped]
            record["netdevs"] = [d for d in record["netdevs"] if d not in devs_gone]
            host_venet = new["venet_host"]
            if venet_now is not None and not venet_new:
                _teardown_host(ip, {"host_ifs": [host_venet], "proxies": record["proxies"]})
                record["host_ifs"] = [h for h in record["host_ifs"] if h != host_venet]
                record["proxies"] = []
            elif venet_now is not None and venet_new:
                _venet_addresses_host(ip, host_venet, venet_now, venet_new["addresses"], record)
        # then add, with the start path
        sub = {
            "ctid": new["ctid"],
            "netifs": added,
            "venet": venet_new if venet_new and venet_now is None else None,
            "netdevs": devs_added,
        }
        if sub["netifs"] or sub["venet"] or sub["netdevs"]:
            more = _start(sub, pid)
            for key in ("host_ifs", "proxies", "bridges", "netdevs"):
                record[key] = record[key] + more[key]
    finally:
        os.close(host_fd)
    record["specs"] = new_ifs
    return record


def _venet_addresses(ip: Any) -> list[str]:
    """The addresses on venet0 (in the container), link-local ones left out."""
    idx = _idx(ip, "venet0")
    found = []
    for a in ip.get_addr(index=idx):
        addr = ipaddress.ip_address(a.get_attr("IFA_ADDRESS"))
        if not addr.is_link_local:
            found.append(str(addr))
    return found


def _venet_addresses_inside(ip: Any, old: list[str], new: list[str]) -> None:
    idx = _idx(ip, "venet0")
    for addr in old:
        if addr not in new:
            a = ipaddress.ip_address(addr)
            ip.addr("del", index=idx, address=str(a), prefixlen=a.max_prefixlen)
    had = {ipaddress.ip_address(a).version for a in old if a in new}
    for addr in new:
        if addr not in old:
            a = ipaddress.ip_address(addr)
            ip.addr("add", index=idx, address=str(a), prefixlen=a.max_prefixlen)
    for version in {ipaddress.ip_address(a).version for a in new} - had:
        dst = "0.0.0.0/0" if version == 4 else "::/0"
        ip.route("replace", dst=dst, oif=idx, scope=SCOPE_LINK if version == 4 else 0)


def _venet_addresses_host(
    ip: Any, host: str, old: list[str], new: list[str], record: dict[str, Any]
) -> None:
    from pyroute2 import NetlinkError

    idx = _idx(ip, host)
    for addr in old:
        if addr not in new:
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
    added = [a for a in new if a not in old]
    for addr in added:
        _check_unrouted(ip, addr)
    _forwarding({ipaddress.ip_address(a).version for a in added})
    uplinks = _uplinks(ip)
    for addr in added:
        a = ipaddress.ip_address(addr)
        ip.route("add", dst=f"{a}/{a.max_prefixlen}", oif=idx)
        for up_idx, net in uplinks:
            if a in net and a.version == 4:
                ip.neigh("add", dst=str(a), ifindex=up_idx, flags=NTF_PROXY)
                record["proxies"].append([str(a), up_idx])
