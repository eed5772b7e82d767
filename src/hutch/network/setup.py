"""Set up and tear down a container's network interfaces with netlink (pyroute2).

Each public function runs its work in a worker process (hutch.linux.worker): the host side
in the host's network namespace, then the container side after setns into the container's.
Interfaces are created with their container end directly inside the container's namespace,
under their final name, so a failure never leaves a half-named device on the host. What
each kind of link needs is its mode's (hutch.network.modes); here is the order and the
undo. The plan goes to the worker as it is (a fork); the record comes back as JSON.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hutch.errors import HutchError, OperationFailed
from hutch.network import modes
from hutch.network import netlink as nl
from hutch.network.modes import phys, venet
from hutch.network.spec import Held, NetifPlan, NetRecord, NetworkPlan


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


def _in_worker(fn: Callable[..., Any], *args: Any) -> Any:
    import pyroute2.iproute  # noqa: F401 - once here, not in every worker

    from hutch.linux.worker import run_in_worker

    return run_in_worker(fn, *args)


# -- start -------------------------------------------------------------------------------


def start(plan: NetworkPlan, pid: int) -> NetRecord:
    """Make the plan's links for the container whose init is `pid` (host side, then
    inside). Returns what teardown needs."""
    return NetRecord.from_json(_in_worker(_start_worker, plan, pid))


def _start_worker(plan: NetworkPlan, pid: int) -> dict[str, Any]:
    held = _translated(f"network of container {plan.ctid}", _start, plan, pid)
    return held.record(NetRecord(), plan.netifs).to_json()


def _start(plan: NetworkPlan, pid: int) -> Held:
    from pyroute2 import IPRoute

    held = Held()
    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with IPRoute() as ip:
            try:
                for mode, item in modes.links(plan):
                    mode.host_side(ip, item, pid, held)
            except BaseException:
                _teardown_host(ip, held)
                raise
        nl.setns_pid(pid)
        try:
            with IPRoute() as ip:
                for mode, item in modes.links(plan):
                    mode.inside(ip, item)
        except BaseException:
            nl.setns_host(host_fd)
            with IPRoute() as ip:
                _teardown_host(ip, held)
            raise
    finally:
        os.close(host_fd)
    return held


def adopt(plan: NetworkPlan, pid: int) -> NetRecord:
    """After a restore: CRIU recreated each veth pair inside and named its host end; give
    those ends back what a start gives them (MAC, MTU, bridge, routes, proxy ARP).
    Returns what teardown needs, as `start` does."""
    return NetRecord.from_json(_in_worker(_adopt_worker, plan, pid))


def _adopt_worker(plan: NetworkPlan, pid: int) -> dict[str, Any]:
    held = _translated(f"network of container {plan.ctid}", _adopt, plan, pid)
    return held.record(NetRecord(), plan.netifs).to_json()


def _adopt(plan: NetworkPlan, pid: int) -> Held:
    from pyroute2 import IPRoute

    held = Held()
    with IPRoute() as ip:
        try:
            for mode, item in modes.links(plan):
                mode.adopt(ip, item, pid, held)
        except BaseException:
            _teardown_host(ip, held)
            raise
    return held


def refusals(plan: NetworkPlan) -> list[str]:
    """Why a checkpoint cannot carry the plan's links (empty: it can)."""
    out = []
    for mode, item in modes.links(plan):
        why = mode.refusal(plan.ctid, item)
        if why:
            out.append(why)
    return out


def host_ends(plan: NetworkPlan) -> list[tuple[str, str]]:
    """(name inside, host end's name) of the links that have a host end."""
    return [e for mode, item in modes.links(plan) if (e := mode.host_end(item)) is not None]


def reclaim(names: list[str], scratch_fd: int) -> None:
    """After a restore: move the host ends `names` from the scratch network namespace
    criu ran in (`scratch_fd`) to this one, the host's."""
    _in_worker(_reclaim, names, scratch_fd)


def _reclaim(names: list[str], scratch_fd: int) -> None:
    from pyroute2 import IPRoute

    from hutch.linux import syscalls as sc

    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(scratch_fd, sc.CLONE_NEWNET, "criu's scratch net")
        with IPRoute() as ip:
            for name in names:
                ip.link("set", index=nl.host_idx(ip, name, "restored host end"), net_ns_fd=host_fd)
        nl.setns_host(host_fd)
    finally:
        os.close(host_fd)


# -- stop --------------------------------------------------------------------------------


def stop(record: NetRecord, netns_path: str | None) -> None:
    """Give host NICs back (from the container's namespace, kept alive by hutchd), then
    remove what the host side holds."""
    _in_worker(_stop, record, netns_path)


def _stop(record: NetRecord, netns_path: str | None) -> None:
    from pyroute2 import IPRoute

    from hutch.linux import syscalls as sc

    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if record.netdevs and netns_path:
            ct_fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(ct_fd, sc.CLONE_NEWNET, "container net")
            finally:
                os.close(ct_fd)
            with IPRoute() as ip:
                for dev in record.netdevs:
                    phys.give_back(ip, dev, host_fd)
            nl.setns_host(host_fd)
        with IPRoute() as ip:
            _teardown_host(ip, Held.of(record))
    finally:
        os.close(host_fd)


def _teardown_host(ip: Any, held: Held) -> None:
    """Remove what hutch added on the host; "already gone" is fine."""
    from pyroute2 import NetlinkError

    for addr, idx in held.proxies:
        try:
            ip.neigh("del", dst=addr, ifindex=idx, flags=nl.NTF_PROXY)
        except NetlinkError:
            pass
    for name in held.host_ifs:
        for idx in ip.link_lookup(ifname=name):
            try:
                ip.link("del", index=idx)
            except NetlinkError:
                pass
    for br in held.bridges:
        found = ip.link_lookup(ifname=br)
        if not found:
            continue
        ours = ip.get_links(found[0])[0].get_attr("IFLA_IFALIAS") == nl.HUTCH_ALIAS
        ports = [link for link in ip.get_links() if link.get_attr("IFLA_MASTER") == found[0]]
        if ours and not ports:
            try:
                ip.link("del", index=found[0])
            except NetlinkError:
                pass


# -- live changes ------------------------------------------------------------------------


def reconcile(old: NetworkPlan, new: NetworkPlan, pid: int, record: NetRecord) -> NetRecord:
    """For `hutch set` on a running container: make the network match `new`.

    `old` is the plan of the saved config; what runs may differ (an earlier `set` without
    --save, a change half applied and rolled back), so the kernel is asked what is there:
    an interface is (re)made when its spec changed or it is missing, removed when the new
    plan drops it; venet addresses are compared with those on venet0. A venet keeps its
    pair and only changes addresses. Returns the updated record (its tables unchanged)."""
    return NetRecord.from_json(_in_worker(_reconcile_worker, old, new, pid, record))


def _reconcile_worker(
    old: NetworkPlan, new: NetworkPlan, pid: int, record: NetRecord
) -> dict[str, Any]:
    held = _translated(f"network of container {new.ctid}", _reconcile, old, new, pid, record)
    return held.record(record, new.netifs).to_json()


def _reconcile(old: NetworkPlan, new: NetworkPlan, pid: int, record: NetRecord) -> Held:
    from pyroute2 import IPRoute

    # the specs last applied (kept in the record) are what runs; the saved plan when an
    # older record has none
    applied: dict[str, NetifPlan] = {n.ifname: n for n in (record.specs or old.netifs)}
    held = Held.of(record)
    new_ifs = {n.ifname: n for n in new.netifs}
    venet_new = new.venet

    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        # inside first: what is there, then remove interfaces (a veth pair goes as a
        # whole) and hand NICs back
        nl.setns_pid(pid)
        with IPRoute() as ip:
            present = {link.get_attr("IFLA_IFNAME") for link in ip.get_links()}
            added = [
                n for name, n in new_ifs.items() if name not in present or applied.get(name) != n
            ]
            gone = (set(applied) | {n.ifname for n in old.netifs}) - set(new_ifs)
            doomed = (gone | {n.ifname for n in added}) & present
            for name in doomed:
                for idx in ip.link_lookup(ifname=name):
                    ip.link("del", index=idx)
            devs_gone = [d for d in held.netdevs if d not in new.netdevs and d in present]
            for dev in devs_gone:
                phys.give_back(ip, dev, host_fd)
            devs_added = tuple(d for d in new.netdevs if d not in present)
            venet_now = None  # the addresses venet0 has, if there is one
            if venet.INSIDE in present:
                venet_now = venet.addresses_now(ip)
                if not venet_new:
                    for idx in ip.link_lookup(ifname=venet.INSIDE):
                        ip.link("del", index=idx)
                else:
                    venet.change_inside(ip, venet_now, venet_new.addresses)
        nl.setns_host(host_fd)
        # an interface made again has the plan's MAC
        held.inner_macs = {k: v for k, v in held.inner_macs.items() if k not in doomed | gone}
        with IPRoute() as ip:
            # their host ends went with them (a veth pair goes as a whole)
            dropped = {applied[name].host_ifname for name in doomed if name in applied}
            held.host_ifs = [h for h in held.host_ifs if h not in dropped]
            held.netdevs = [d for d in held.netdevs if d not in devs_gone]
            host_venet = new.venet_host
            if venet_now is not None and not venet_new:
                _teardown_host(ip, Held(host_ifs=[host_venet], proxies=held.proxies))
                held.host_ifs = [h for h in held.host_ifs if h != host_venet]
                held.proxies = []
            elif venet_now is not None and venet_new:
                venet.change_host(ip, host_venet, venet_now, venet_new.addresses, held)
        # then add, with the start path
        sub = NetworkPlan(
            ctid=new.ctid,
            netifs=tuple(added),
            venet=venet_new if venet_new and venet_now is None else None,
            netdevs=devs_added,
        )
        if sub.has_network:
            more = _start(sub, pid)
            held.host_ifs += more.host_ifs
            held.proxies += more.proxies
            held.bridges += more.bridges
            held.netdevs += more.netdevs
    finally:
        os.close(host_fd)
    return held
