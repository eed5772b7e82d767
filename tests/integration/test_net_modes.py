"""Container networking on the real kernel: veth on a bridge, venet, macvlan, phys, empty,
host mode, vlan (refused: no 8021q here), live `set`, and a host left as found.

Everything runs in a throwaway network namespace playing the host (see netns.py): hutch's CLI
and its hutchd run under `nsenter --net=`, so no device, route or sysctl reaches the
machine's own network. Addresses are from 198.18.0.0/15 only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from netns import Capture, HostNetns, ct_addrs, ct_link

from hutch.network.names import stable_mac

pytestmark = pytest.mark.root


class Net:
    """What a test gets: the hutch root (its CLI in the namespace) and the namespace."""

    def __init__(self, hutch, ns: HostNetns) -> None:
        self.hutch = hutch
        self.ns = ns

    def pid(self, ctid: str) -> int:
        pid = self.hutch.init_pid(ctid)
        assert pid is not None, f"container {ctid} is not running"
        return pid

    def container(self, *settings: str, start: bool = True) -> str:
        """A new container with `hutch set --save SETTINGS`, started unless told not to."""
        ctid = self.hutch.create()
        if settings:
            self.hutch.ok("set", ctid, *settings, "--save")
        if start:
            self.hutch.start(ctid)
        return ctid

    def exec(self, ctid: str, *argv: str) -> str:
        return self.hutch.ok("exec", ctid, *argv).stdout

    def pings(self, ctid: str, address: str, count: int = 1) -> bool:
        every = ("-i", "0.1") if count > 1 else ()
        p = self.hutch.run("exec", ctid, "ping", "-c", str(count), *every, "-W", "1", address)
        return p.returncode == 0

    def host_routes(self) -> set[str]:
        return {r["dst"] for r in self.ns.ip_json("route", "show", "table", "main")}

    def rx_packets(self, ctid: str, dev: str) -> int:
        """The kernel's receive counter of a container's device (what its
        /sys/class/net/DEV/statistics/rx_packets says), read without a `hutch exec`."""
        link = ct_link(self.pid(ctid), dev, stats=True)
        assert link is not None, f"container {ctid} has no {dev}"
        return int(link["stats64"]["rx"]["packets"])


@pytest.fixture(scope="module")
def host_netns(hutch_root) -> Iterator[HostNetns]:
    """The module's "host" network namespace; hutch_root's CLI and hutchd run in it.
    At the end: containers removed, hutchd stopped (it lives in the namespace), the namespace
    checked to be as created and deleted."""
    ns = HostNetns.create(f"hutch-nm{os.getpid()}")
    ns.attach(hutch_root)
    try:
        yield ns
    finally:
        problems = hutch_root.remove_containers(hutch_root.container_ids())
        problems += hutch_root.stop_daemon()
        problems += ns.close()
    if problems:
        pytest.fail("network test host not clean:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def net(hutch_root, host_netns: HostNetns) -> Iterator[Net]:
    """Per test: the containers it made are killed and destroyed, then the host namespace
    must be as before the test (less the test's own scratch devices, removed after)."""
    before_ids = set(hutch_root.container_ids())
    before = host_netns.snapshot()
    yield Net(hutch_root, host_netns)
    created = [c for c in hutch_root.container_ids() if c not in before_ids]
    problems = hutch_root.remove_containers(created)
    problems += host_netns.leftovers(before)
    host_netns.remove_scratch()
    problems += host_netns.leftovers(before)
    if problems:
        pytest.fail("after the test:\n  " + "\n  ".join(problems), pytrace=False)


# -- veth on a bridge ----------------------------------------------------------------------


def test_veth_on_a_bridge_macs_and_host_ends(net: Net) -> None:
    mac_a = "02:00:5e:12:00:0a"
    a = net.container(
        "--netif_add", f"ifname=eth0,bridge=brnm1,ip=198.18.1.1/24,mac={mac_a},host_ifname=hvnmA"
    )
    b = net.container("--netif_add", "ifname=eth0,bridge=brnm1,ip=198.18.1.2/24")
    assert net.pings(a, "198.18.1.2") and net.pings(b, "198.18.1.1")
    # MACs as configured, and generated ones stable for the container
    assert net.exec(a, "cat", "/sys/class/net/eth0/address").strip() == mac_a
    generated = stable_mac(str(net.hutch.root), b, "eth0")
    assert net.exec(b, "cat", "/sys/class/net/eth0/address").strip() == generated
    # the host ends: the configured name, on the bridge hutch made, up
    host_a = net.ns.link("hvnmA")
    assert host_a is not None and host_a["master"] == "brnm1" and "UP" in host_a["flags"]
    bridge = net.ns.link("brnm1")
    assert bridge is not None and bridge["linkinfo"]["info_kind"] == "bridge"
    ports = {x["ifname"] for x in net.ns.ip_json("link", "show", "master", "brnm1")}
    assert len(ports) == 2 and "hvnmA" in ports
    # a restart gives the same generated MAC and a working link again
    old_pid = net.pid(b)
    net.hutch.ok("restart", "--timeout", "0", b)
    assert net.pid(b) != old_pid
    assert net.exec(b, "cat", "/sys/class/net/eth0/address").strip() == generated
    assert net.pings(b, "198.18.1.1")
    # the last container to leave the bridge hutch made takes it away
    net.hutch.ok("stop", "--kill", a)
    assert net.ns.link("hvnmA") is None and net.ns.link("brnm1") is not None
    net.hutch.ok("stop", "--kill", b)
    assert net.ns.link("brnm1") is None


def test_veth_on_the_operators_bridge_leaves_it_alone(net: Net) -> None:
    net.ns.bridge("bropnm")
    a = net.container("--netif_add", "ifname=eth0,bridge=bropnm,ip=198.18.1.11/24")
    net.ns.ip("addr", "add", "198.18.1.254/24", "dev", "bropnm")
    assert net.pings(a, "198.18.1.254")
    net.hutch.ok("stop", "--kill", a)
    assert net.ns.link("bropnm") is not None  # not hutch's: stays, addresses and all
    assert net.ns.ip_json("link", "show", "master", "bropnm") == []


# -- venet -----------------------------------------------------------------------------------


def test_venet_routed_between_containers_and_from_outside(net: Net) -> None:
    # an uplink holding the venet subnet, with "another host" behind it
    outside = net.ns.peer(f"hutch-nmo{os.getpid()}")
    net.ns.veth("upnm0", "upnm1", peer_ns=outside)
    net.ns.ip("addr", "add", "198.18.9.254/24", "dev", "upnm0")
    outside.ip("addr", "add", "198.18.9.100/24", "dev", "upnm1")

    a = net.container("--ipadd", "198.18.9.1")
    b = net.container("--ipadd", "198.18.9.2")
    c = net.container("--ipadd", "198.18.9.3")
    pid_a = net.pid(a)
    # inside: venet0, NOARP, /32 only, default route on the link
    venet = ct_link(pid_a, "venet0")
    assert venet is not None and "NOARP" in venet["flags"] and "UP" in venet["flags"]
    assert ct_addrs(pid_a, "venet0") == ["198.18.9.1/32"]
    routes = [r.strip() for r in net.exec(a, "ip", "route").splitlines()]
    assert routes == ["default dev venet0 scope link"]
    # routed by the host: between containers, and to the outside through proxy ARP
    assert net.pings(a, "198.18.9.3") and net.pings(c, "198.18.9.1")
    outside.run("busybox", "ping", "-c", "1", "-W", "1", "198.18.9.2")
    assert net.pings(b, "198.18.9.100")
    proxies = {p["dst"] for p in net.ns.ip_json("neigh", "show", "proxy")}
    assert proxies == {"198.18.9.1", "198.18.9.2", "198.18.9.3"}
    assert {"198.18.9.1", "198.18.9.2", "198.18.9.3"} <= net.host_routes()
    # the host forwards IPv4 now, and only IPv4 (IPv6 forwarding would make it ignore
    # router advertisements: no reason to risk the host's own IPv6 for IPv4 containers)
    assert net.ns.run("cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"
    assert net.ns.run("cat", "/proc/sys/net/ipv6/conf/all/forwarding").strip() == "0"


def test_venet_container_cannot_see_anothers_traffic(net: Net) -> None:
    a = net.container("--ipadd", "198.18.9.11")
    b = net.container("--ipadd", "198.18.9.12")
    c = net.container("--ipadd", "198.18.9.13")
    # B even claims C's address: on a shared L2 segment that would steal C's traffic
    net.exec(b, "ip", "addr", "add", "198.18.9.13/32", "dev", "venet0")
    watched = ["198.18.9.11", "198.18.9.13"]
    with Capture(net.pid(b), watched) as cap:
        cap.counts()  # start from zero
        rx_b, rx_c = net.rx_packets(b, "venet0"), net.rx_packets(c, "venet0")
        assert net.pings(a, "198.18.9.13", count=10)
        hits, others = cap.counts()
        assert hits == 0, f"B saw {hits} frames of A<->C or ARP"
        # all B may see meanwhile is its link's own IPv6 multicast housekeeping (MLD, RS)
        assert all(o.split(">")[1].startswith("3333") for o in others), others
        assert net.rx_packets(b, "venet0") - rx_b < 10  # not moved by A's 10 pings
        assert net.rx_packets(c, "venet0") >= rx_c + 10  # C got every request
        # the capture does see what is B's own (so the zero above means something)
        assert net.pings(b, "198.18.9.11", count=2)
        hits, others = cap.counts()
        assert hits >= 4, f"B's capture saw {hits} frames of its own pings (others: {others})"
    arp = net.exec(b, "cat", "/proc/net/arp").splitlines()
    assert arp[1:] == [], f"B learnt neighbours on a NOARP venet: {arp}"


# -- macvlan -----------------------------------------------------------------------------------


def _macvlan(ip: str, mode: str) -> str:
    return f"ifname=eth0,type=macvlan,link=mvnm0,mode={mode},ip={ip}"


def test_macvlan_private_isolates_and_bridge_connects(net: Net) -> None:
    net.ns.veth("mvnm0", "mvnm1")  # the parent: a veth end, up
    a = net.container("--netif_add", _macvlan("198.18.2.1/24", "private"))
    b = net.container("--netif_add", _macvlan("198.18.2.2/24", "private"))
    link = ct_link(net.pid(a), "eth0")
    assert link is not None and link["linkinfo"]["info_kind"] == "macvlan"
    assert link["linkinfo"]["info_data"]["mode"] == "private"
    assert not net.pings(a, "198.18.2.2")  # (1 s: the wait for a reply that never comes)
    # live: the same interfaces again in bridge mode
    for ctid, ip in ((a, "198.18.2.1/24"), (b, "198.18.2.2/24")):
        net.hutch.ok("set", ctid, "--netif_del", "eth0", "--netif_add", _macvlan(ip, "bridge"))
        link = ct_link(net.pid(ctid), "eth0")
        assert link is not None and link["linkinfo"]["info_data"]["mode"] == "bridge"
    assert net.pings(a, "198.18.2.2") and net.pings(b, "198.18.2.1")


# -- phys (a host NIC moved in) ----------------------------------------------------------------


def test_netdev_moves_in_and_back(net: Net) -> None:
    net.ns.veth("phnm0", "phnm1")
    net.ns.ip("addr", "add", "198.18.3.2/24", "dev", "phnm1")
    a = net.container()
    net.hutch.ok("set", a, "--netdev_add", "phnm0", "--save")  # live
    assert net.ns.link("phnm0") is None
    assert ct_link(net.pid(a), "phnm0") is not None
    net.exec(a, "ip", "addr", "add", "198.18.3.1/24", "dev", "phnm0")
    assert net.pings(a, "198.18.3.2")
    net.hutch.ok("set", a, "--netdev_del", "phnm0", "--save")  # live: back to the host
    assert net.ns.link("phnm0") is not None
    assert "phnm0" not in net.exec(a, "ls", "/sys/class/net").split()
    net.hutch.ok("set", a, "--netdev_add", "phnm0", "--save")
    net.hutch.ok("stop", "--kill", a)  # the init gone, hutchd gives it back (a clean
    # stop takes the same path: test_stop_leaves_the_host_namespace_as_found)
    assert net.ns.link("phnm0") is not None
    net.hutch.start(a)  # given at start
    assert net.ns.link("phnm0") is None
    assert "phnm0" in net.exec(a, "ls", "/sys/class/net").split()
    net.hutch.ok("stop", "--kill", a)  # and back again
    link = net.ns.link("phnm0")
    assert link is not None and "UP" not in link["flags"]  # as a NIC just plugged back


# -- empty, host mode, vlan ------------------------------------------------------------------


def test_empty_has_only_lo(net: Net) -> None:
    a = net.container()
    assert net.exec(a, "ls", "/sys/class/net").split() == ["lo"]
    assert net.exec(a, "cat", "/sys/class/net/lo/operstate").strip() in ("unknown", "up")
    assert net.exec(a, "ip", "route").strip() == ""


def test_host_mode_sees_the_hosts_network(net: Net) -> None:
    net.ns.bridge("brhnm")
    a = net.container("--network", "host")
    assert "brhnm" in net.exec(a, "ls", "/sys/class/net").split()
    assert "brhnm" in net.exec(a, "ip", "link")
    assert os.readlink(f"/proc/{net.pid(a)}/ns/net") == os.readlink(
        f"/proc/{net.hutch.daemon_pid()}/ns/net"
    )
    msg = net.hutch.fails("set", a, "--ipadd", "198.18.4.99")
    assert "host" in msg


def test_vlan_is_refused_cleanly(net: Net) -> None:
    net.ns.veth("vlnm0", "vlnm1")
    a = net.container(
        "--netif_add",
        "ifname=eth0,bridge=brvnm,ip=198.18.8.1/24",
        "--netif_add",
        "ifname=eth1,type=vlan,link=vlnm0,vlan=5",
        "--ipadd",
        "198.18.8.50",
        start=False,
    )
    before = net.ns.snapshot()
    msg = net.hutch.fails("start", a)
    assert "8021q" in msg and "eth1" in msg, msg
    assert net.hutch.status(a) == "stopped"
    assert net.hutch.cgroup_dirs(a) == []
    assert net.hutch.state(a) is None
    assert net.ns.snapshot().diff(before) == []  # no bridge, veth end, venet end or route


def test_network_errors_are_one_clear_line(net: Net) -> None:
    net.container("--ipadd", "198.18.8.20")
    taken = net.container("--ipadd", "198.18.8.20", start=False)
    before = net.ns.snapshot()
    msg = net.hutch.fails("start", taken)
    assert "198.18.8.20" in msg and "already routed" in msg, msg
    nolink = net.container("--netif_add", "ifname=eth0,type=macvlan,link=nosuchnm", start=False)
    msg = net.hutch.fails("start", nolink)
    assert "nosuchnm" in msg and "no network interface" in msg, msg
    assert net.ns.snapshot().diff(before) == []
    for ctid in (taken, nolink):
        assert net.hutch.status(ctid) == "stopped" and net.hutch.cgroup_dirs(ctid) == []
    # live: refused as a whole, what was applied before the refusal is put back
    a = net.container("--ipadd", "198.18.8.30")
    before = net.ns.snapshot()
    bad = "ifname=eth1,type=macvlan,link=nosuchnm"
    msg = net.hutch.fails("set", a, "--ipadd", "198.18.8.31", "--netif_add", bad)
    assert "nosuchnm" in msg, msg
    assert ct_addrs(net.pid(a), "venet0") == ["198.18.8.30/32"]
    assert ct_link(net.pid(a), "eth1") is None
    assert net.ns.snapshot().diff(before) == []


# -- live set ----------------------------------------------------------------------------------


def test_live_set_addresses_interfaces_dns_hostname(net: Net) -> None:
    a = net.container()
    pid = net.pid(a)
    # venet made live, addresses added and removed, then venet gone
    net.hutch.ok("set", a, "--ipadd", "198.18.4.1")  # live only, then with --save:
    net.hutch.ok("set", a, "--ipadd", "198.18.4.1", "--ipadd", "198.18.4.2", "--save")
    assert sorted(ct_addrs(pid, "venet0")) == ["198.18.4.1/32", "198.18.4.2/32"]
    assert {"198.18.4.1", "198.18.4.2"} <= net.host_routes()
    assert net.pings(a, "198.18.4.1")
    net.hutch.ok("set", a, "--ipdel", "198.18.4.1")
    assert ct_addrs(pid, "venet0") == ["198.18.4.2/32"]
    routes = net.host_routes()
    assert "198.18.4.1" not in routes and "198.18.4.2" in routes
    net.hutch.ok("set", a, "--ipdel", "all")
    assert ct_link(pid, "venet0") is None
    assert not {"198.18.4.1", "198.18.4.2"} & net.host_routes()
    # an interface added and removed live
    b = net.container("--netif_add", "ifname=eth0,bridge=brlnm,ip=198.18.5.2/24")
    net.hutch.ok("set", a, "--netif_add", "ifname=eth1,bridge=brlnm,ip=198.18.5.1/24", "--save")
    assert ct_addrs(pid, "eth1") == ["198.18.5.1/24"]
    assert len(net.ns.ip_json("link", "show", "master", "brlnm")) == 2
    assert net.pings(a, "198.18.5.2")
    net.hutch.ok("set", a, "--netif_del", "eth1", "--save")
    assert ct_link(pid, "eth1") is None
    assert len(net.ns.ip_json("link", "show", "master", "brlnm")) == 1
    assert net.pings(b, "198.18.5.2")  # b's own link untouched
    # DNS and the host name, in the files the container reads
    net.hutch.ok(
        "set", a, "--nameserver", "198.18.0.53", "--searchdomain", "example.test", "--save"
    )
    resolv = net.exec(a, "cat", "/etc/resolv.conf").splitlines()
    assert "nameserver 198.18.0.53" in resolv and "search example.test" in resolv
    net.hutch.ok("set", a, "--hostname", "live-nm.example")
    assert "live-nm.example" in net.exec(a, "cat", "/etc/hosts")
    assert net.exec(a, "hostname").strip() == "live-nm.example"


# -- stop leaves the host as found ---------------------------------------------------------------


def test_stop_leaves_the_host_namespace_as_found(net: Net) -> None:
    net.ns.veth("upnm2", "upnm3")
    net.ns.ip("addr", "add", "198.18.6.254/24", "dev", "upnm2")
    net.ns.veth("mvnm2", "mvnm3")
    net.ns.veth("phnm2", "phnm3")
    before = net.ns.snapshot()
    a = net.container(
        "--netif_add",
        "ifname=eth0,bridge=brsnm,ip=198.18.6.1/24,host_ifname=hvsnm",
        "--netif_add",
        "ifname=eth1,type=macvlan,link=mvnm2,ip=198.18.6.65/26",
        "--ipadd",
        "198.18.6.10",
        "--ipadd",
        "198.18.6.11",
        "--netdev_add",
        "phnm2",
    )
    b = net.container("--ipadd", "198.18.6.20", "--netif_add", "ifname=eth0,bridge=brsnm")
    during = net.ns.snapshot().diff(before)
    # what the two hold on the host: bridge, 2 veth ends, 2 venet ends, 3 routes, 3 proxies
    assert sum(d.startswith("link appeared") for d in during) == 5, during
    assert sum(d.startswith("route appeared") for d in during) == 3, during
    assert sum(d.startswith("proxy appeared") for d in during) == 3, during
    assert "link vanished: phnm2 veth master=- UP" in during
    net.hutch.ok("stop", "--kill", b)
    net.hutch.ok("stop", a)  # a clean stop
    assert net.ns.leftovers(before) == []
