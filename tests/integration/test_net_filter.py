"""The anti-spoofing filter on a container's bridge port (issue 12 item 7), on the real kernel.

A container on a bridge the test made, and a "neighbour" network namespace on the same
bridge. From inside the container (the escape probe's `spoof_send`: an AF_PACKET socket,
as the container's root has) go frames with a forged source MAC, a forged IPv4 and IPv6
source, a gratuitous ARP claiming the neighbour's address, a VLAN-tagged frame, a DHCP
server reply and an IPv6 router advertisement; a raw capture in the neighbour must see none
of them, while a legitimate frame sent right after (and a ping) arrives — and with
`network.allow_spoof all`, set live, every one arrives (so the test can fail). The RA would
have given the neighbour, and the host (the bridge's own namespace accepts RAs here), an
IPv6 default route: neither gets one while filtered.

Everything runs in a throwaway namespace playing the host (netns.py); addresses are from
198.18.0.0/15 and 2001:db8::/32 only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns import NSENTER, HostNetns, NetnsError, in_netns_of

from hutch.network.portfilter import eui64_link_local

pytestmark = pytest.mark.root

BRIDGE = "brpf1"
CT_MAC = "02:00:5e:3c:00:0a"
CT_IP, CT_IP6 = "198.18.60.10", "2001:db8:60::10"
NB_IP, NB_IP6 = "198.18.60.2", "2001:db8:60::2"
HOST_END = "hvpf0"
NETIF = (
    f"ifname=eth0,bridge={BRIDGE},mac={CT_MAC},host_ifname={HOST_END},ip={CT_IP}/24,ip={CT_IP6}/64"
)
FORGED = ("mac", "ip", "ip6", "garp", "vlan", "dhcp", "ra")
WAIT = 15.0  # a frame that should come has this long (a failure guard, not a timing check)


# -- frames, built here and sent from inside ---------------------------------------------------


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _eth(dst: str, src: str, kind: int, payload: bytes) -> bytes:
    return _mac(dst) + _mac(src) + struct.pack("!H", kind) + payload


def _udp4(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    hdr = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return hdr + udp


def _ip6(src: str, dst: str, nh: int, body: bytes, hops: int = 64) -> bytes:
    s, d = ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    if nh == 58:  # ICMPv6: checksum over the pseudo header
        pseudo = s + d + struct.pack("!I3xB", len(body), 58)
        body = body[:2] + struct.pack("!H", _csum(pseudo + body)) + body[4:]
    return struct.pack("!IHBB", 0x60000000, len(body), nh, hops) + s + d + body


def _udp6(src: str, dst: str, data: bytes) -> bytes:
    return _ip6(src, dst, 17, struct.pack("!HHHH", 4000, 4000, 8 + len(data), 0) + data)


def _arp(sha: str, spa: str, tpa: str) -> bytes:
    head = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
    return head + _mac(sha) + socket.inet_aton(spa) + bytes(6) + socket.inet_aton(tpa)


def _ra(src_ll: str) -> bytes:
    # router lifetime 1800 s: whoever accepts it makes us its default route
    body = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
    body += struct.pack("!BB", 1, 1) + _mac(CT_MAC)  # source link-layer address option
    return _ip6(src_ll, "ff02::1", 58, body, hops=255)


def forged_frames(link_local: str) -> dict[str, bytes]:
    bc, ip4, ip6, arp, vlan = "ff:ff:ff:ff:ff:ff", 0x0800, 0x86DD, 0x0806, 0x8100
    return {
        "mac": _eth(bc, "02:00:5e:3c:00:99", ip4, _udp4(CT_IP, NB_IP, 4000, 4000, b"HUTCH-mac")),
        "ip": _eth(bc, CT_MAC, ip4, _udp4("198.18.60.77", NB_IP, 4000, 4000, b"HUTCH-ip")),
        "ip6": _eth(bc, CT_MAC, ip6, _udp6("2001:db8:60::77", NB_IP6, b"HUTCH-ip6")),
        "garp": _eth(bc, CT_MAC, arp, _arp(CT_MAC, NB_IP, NB_IP)),
        "vlan": _eth(
            bc,
            CT_MAC,
            vlan,
            struct.pack("!HH", 7, ip4) + _udp4("198.18.60.78", NB_IP, 4000, 4000, b"HUTCH-vlan"),
        ),
        "dhcp": _eth(bc, CT_MAC, ip4, _udp4(CT_IP, "255.255.255.255", 67, 68, b"HUTCH-dhcp")),
        "ra": _eth("33:33:00:00:00:01", CT_MAC, ip6, _ra(link_local)),
    }


def marker(n: int) -> bytes:
    """A legitimate frame: the container's own MAC and address."""
    data = f"HUTCH-mark{n}".encode()
    return _eth("ff:ff:ff:ff:ff:ff", CT_MAC, 0x0800, _udp4(CT_IP, NB_IP, 4000, 4000, data))


# -- the neighbour's capture -------------------------------------------------------------------

_CAPTURE = r"""
import json, re, select, socket, sys, time
mode, where, nb_ip = sys.argv[1], sys.argv[2], socket.inet_aton(sys.argv[3])
wait = float(sys.argv[4])
if mode == "packet":  # every frame arriving at the device
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((where, 0))
else:  # what the namespace's IP stack takes in on a UDP port
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(where)))
seen = set()
print("ready", flush=True)
def classify(data, pkttype):
    if pkttype == 4:  # PACKET_OUTGOING: the neighbour's own
        return None
    m = re.search(rb"HUTCH-([a-z0-9]+)", data)
    if m:
        return m.group(1).decode()
    if mode == "packet" and data[12:14] == b"\x08\x06" and data[28:32] == nb_ip:
        return "garp"
    if mode == "packet" and data[12:14] == b"\x86\xdd" and data[20] == 58 and data[54] == 134:
        return "ra"
    return None
for line in sys.stdin:
    want = set(line.split())
    deadline = time.monotonic() + wait
    while not want <= seen and time.monotonic() < deadline:
        ready, _, _ = select.select([s], [], [], 0.2)
        if ready:
            data, addr = s.recvfrom(65535)
            tag = classify(data, addr[2] if mode == "packet" else 0)
            if tag:
                seen.add(tag)
    print(json.dumps(sorted(seen)), flush=True)
    seen = set()
"""


class Capture:
    """Tagged frames arriving in a namespace: at a device (`packet`, DEV) or at a UDP port
    of its stack (`udp`, PORT). `wait(*tags)` returns every tag seen since the last call,
    once all of `tags` are (or after WAIT seconds)."""

    def __init__(self, ns: HostNetns, mode: str, where: str) -> None:
        argv = [sys.executable, "-c", _CAPTURE, mode, where, NB_IP, str(WAIT)]
        self.proc = subprocess.Popen(
            [NSENTER, f"--net={ns.path}", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.close()
            raise NetnsError("the capture did not start")

    def wait(self, *tags: str) -> set[str]:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.proc.stdin.write(" ".join(tags) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise NetnsError("the capture died")
        return set(json.loads(line))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(WAIT + 5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host_netns(hutch_root) -> Iterator[HostNetns]:
    if shutil.which("nft") is None and not os.access("/usr/sbin/nft", os.X_OK):
        pytest.skip("nft is absent: the filter is nftables (setup.sh installs it)")
    ns = HostNetns.create(f"hutch-pf{os.getpid()}")
    ns.attach(hutch_root)
    try:
        yield ns
    finally:
        problems = hutch_root.remove_containers(hutch_root.container_ids())
        problems += hutch_root.stop_daemon()
        problems += [f"nft table left: {t}" for t in tables(ns)]
        problems += ns.close()
    if problems:
        pytest.fail("filter test host not clean:\n  " + "\n  ".join(problems), pytrace=False)


def tables(ns: HostNetns) -> list[str]:
    out = json.loads(ns.run("nft", "-j", "list", "tables") or "{}")
    return [f"{i['table']['family']} {i['table']['name']}" for i in out["nftables"] if "table" in i]


class Rig:
    def __init__(self, hutch, ns: HostNetns, nb: HostNetns, probe: Path) -> None:
        self.hutch, self.ns, self.nb, self.probe = hutch, ns, nb, probe

    def container(self, *settings: str) -> str:
        ctid = self.hutch.create()
        self.hutch.ok("set", ctid, "--netif_add", NETIF, *settings, "--save")
        shutil.copyfile(self.probe, self.hutch.rootfs(ctid) / "probe")
        os.chmod(self.hutch.rootfs(ctid) / "probe", 0o755)
        return ctid

    def send(self, ctid: str, frames: list[bytes]) -> None:
        p = self.hutch.run(
            "exec", ctid, "--", "/probe", "spoof_send", "eth0", *(f.hex() for f in frames)
        )
        assert p.returncode == 0 and "sent:" in p.stdout, p.stdout + p.stderr

    def link_local(self, ctid: str) -> str:
        pid = self.hutch.init_pid(ctid)
        out = json.loads(in_netns_of(pid, "ip", "-j", "-6", "addr", "show", "dev", "eth0"))
        found = [a["local"] for a in out[0]["addr_info"] if a["local"].startswith("fe80:")]
        assert found, f"container {ctid}: eth0 has no link-local address"
        return found[0]

    def settled(self, ctid: str) -> None:
        """Wait for duplicate address detection: a tentative address sends nothing."""
        pid = self.hutch.init_pid(ctid)

        def done() -> bool:
            return "tentative" not in in_netns_of(pid, "ip", "-6", "addr", "show", "dev", "eth0")

        self.hutch.wait_until(done, WAIT, f"container {ctid}'s IPv6 addresses to settle")
        self.forwarding()

    def forwarding(self) -> None:
        """Wait for the bridge to forward on the container's port: it learns of the carrier
        of a new port asynchronously (linkwatch, up to a second later)."""

        def state() -> bool:
            link = self.ns.link(HOST_END) or {}
            port = link.get("linkinfo", {}).get("info_slave_data", {})
            return port.get("state") == "forwarding"

        self.hutch.wait_until(state, WAIT, f"the bridge to forward on {HOST_END}")

    def default6(self, ns: HostNetns) -> list[str]:
        return [r.get("gateway", "-") for r in ns.ip_json("-6", "route", "show", "default")]


@pytest.fixture
def rig(hutch_root, host_netns: HostNetns, probe_binary: Path) -> Iterator[Rig]:
    before_ids = set(hutch_root.container_ids())
    before = host_netns.snapshot()
    host_netns.bridge(BRIDGE)
    nb = host_netns.peer(f"hutch-pfn{os.getpid()}")
    host_netns.veth("nbpf0", "nbpf1", peer_ns=nb)
    host_netns.ip("link", "set", "nbpf0", "master", BRIDGE)
    nb.ip("addr", "add", f"{NB_IP}/24", "dev", "nbpf1")
    nb.ip("addr", "add", f"{NB_IP6}/64", "dev", "nbpf1", "nodad")
    # both would take a router advertisement (as hosts and containers without IPv6
    # forwarding do): the neighbour, and the host itself on the bridge
    for ns, dev in ((nb, "nbpf1"), (host_netns, BRIDGE)):
        ns.run("sh", "-c", f"echo 2 > /proc/sys/net/ipv6/conf/{dev}/accept_ra")
    yield Rig(hutch_root, host_netns, nb, probe_binary)
    created = [c for c in hutch_root.container_ids() if c not in before_ids]
    problems = hutch_root.remove_containers(created)
    host_netns.remove_scratch()
    problems += host_netns.leftovers(before)
    if problems:
        pytest.fail("after the test:\n  " + "\n  ".join(problems), pytrace=False)


# -- tests -------------------------------------------------------------------------------------


def test_forged_frames_do_not_reach_the_neighbour_or_the_host(rig: Rig) -> None:
    ct = rig.container()
    rig.hutch.start(ct)
    rig.settled(ct)
    ll = rig.link_local(ct)
    assert ll == eui64_link_local(CT_MAC)  # the rule's link-local is the kernel's
    table = f"netdev {rig.hutch.paths.cgroup_name.replace('-', '_')}_ct_{ct}"
    assert tables(rig.ns) == [table]
    frames = forged_frames(ll)
    cap = Capture(rig.nb, "packet", "nbpf1")
    try:
        # the filtered port still carries the container's own traffic
        rig.send(ct, [marker(0)])
        assert cap.wait("mark0") == {"mark0"}
        p = rig.hutch.run("exec", ct, "ping", "-c", "1", "-W", "5", NB_IP)
        assert p.returncode == 0, p.stdout + p.stderr
        p = rig.hutch.run("exec", ct, "ping", "-c", "1", "-W", "5", NB_IP6)
        assert p.returncode == 0, p.stdout + p.stderr
        cap.wait()  # forget the pings

        rig.send(ct, [*frames.values(), marker(1)])
        rig.send(ct, [marker(2)])  # after a second run: anything still on its way is in
        got = cap.wait("mark1", "mark2")
        assert {"mark1", "mark2"} <= got
        assert got & set(FORGED) == set(), f"forged frames reached the neighbour: {got}"
        assert rig.default6(rig.nb) == [] and rig.default6(rig.ns) == []

        # allowed, live: every one arrives (the capture would have seen them)
        rig.hutch.ok("set", ct, "--allow_spoof", "all")
        assert tables(rig.ns) == []
        rig.send(ct, [*frames.values(), marker(3)])
        got = cap.wait(*FORGED, "mark3")
        assert set(FORGED) <= got, f"allowed, yet missing: {set(FORGED) - got}"
        # and the RA did what a filter is for: both took the container as their router
        assert rig.default6(rig.nb) == [ll]
        assert rig.default6(rig.ns) == [ll]
        # only the router group allowed: the RA passes, forged sources do not
        rig.hutch.ok("set", ct, "--allow_spoof", "router")
        rig.send(ct, [*frames.values(), marker(4)])
        rig.send(ct, [marker(5)])
        got = cap.wait("ra", "dhcp", "mark4", "mark5")
        assert got & set(FORGED) == {"ra", "dhcp"}, got
    finally:
        cap.close()
    rig.hutch.ok("stop", "--kill", ct)
    assert tables(rig.ns) == []


def test_allow_spoof_saved_starts_unfiltered(rig: Rig) -> None:
    ct = rig.container("--allow_spoof", "mac,ip,router")
    rig.hutch.start(ct)
    assert tables(rig.ns) == []  # nothing to filter: no table, no nft run
    rig.hutch.ok("set", ct, "--allow_spoof", "")  # back to the default, live
    assert len(tables(rig.ns)) == 1
    rig.hutch.ok("stop", "--kill", ct)
    assert tables(rig.ns) == []


def test_a_failed_start_leaves_no_table(rig: Rig) -> None:
    # the init cannot be run: the start fails after the network (and its filter) was made
    ct = rig.container("--init", "/no-such-init")
    p = rig.hutch.run("start", ct)
    assert p.returncode != 0 and "no-such-init" in p.stderr, p.stderr
    assert tables(rig.ns) == []
    assert rig.ns.link(HOST_END) is None


def test_venet_forged_source_and_ra_are_dropped(rig: Rig) -> None:
    # venet is routed: the host would take in (and forward) a forged source address, and
    # an RA on the host end would make the host route its IPv6 into the container
    ct = rig.hutch.create()
    rig.hutch.ok("set", ct, "--ipadd", "198.18.61.1", "--save")
    shutil.copyfile(rig.probe, rig.hutch.rootfs(ct) / "probe")
    os.chmod(rig.hutch.rootfs(ct) / "probe", 0o755)
    rig.hutch.start(ct)
    host_end = rig.hutch.state(ct)["net"]["host_ifs"][0]
    rig.ns.run("sh", "-c", f"echo 2 > /proc/sys/net/ipv6/conf/{host_end}/accept_ra")
    rig.ns.ip("addr", "add", "198.18.61.254/32", "dev", "lo")  # the host's, to send to
    # both ends share a MAC, so venet0's EUI-64 link-local is the host's own (an RA from
    # it would be ignored): the container takes another one, as its root may
    ll = "fe80::1:2"
    mac = rig.ns.link(host_end)["address"]  # type: ignore[index]

    def udp(src: str, tag: str) -> str:
        payload = _udp4(src, "198.18.61.254", 4000, 4999, f"HUTCH-{tag}".encode())
        return _eth(mac, mac, 0x0800, payload).hex()

    ra = _eth("33:33:00:00:00:01", mac, 0x86DD, _ra(ll)).hex()
    cap = Capture(rig.ns, "udp", "4999")
    try:

        def send(*frames: str) -> None:
            p = rig.hutch.run("exec", ct, "--", "/probe", "spoof_send", "venet0", *frames)
            assert p.returncode == 0 and "sent:" in p.stdout, p.stdout + p.stderr

        send(udp("198.18.61.9", "ip"), ra, udp("198.18.61.1", "mark1"))
        send(udp("198.18.61.1", "mark2"))
        got = cap.wait("mark1", "mark2")
        assert got == {"mark1", "mark2"}, f"the host took in a forged source: {got}"
        assert rig.default6(rig.ns) == []
        rig.hutch.ok("set", ct, "--allow_spoof", "ip,router")
        send(udp("198.18.61.9", "ip"), ra, udp("198.18.61.1", "mark3"))
        assert cap.wait("ip", "mark3") == {"ip", "mark3"}
        rig.hutch.wait_until(lambda: rig.default6(rig.ns) == [ll], WAIT, "the RA taken")
    finally:
        cap.close()
        rig.ns.ip("addr", "del", "198.18.61.254/32", "dev", "lo", check=False)
    rig.hutch.ok("stop", "--kill", ct)
    assert tables(rig.ns) == []


def test_the_filter_comes_back_with_a_restore(rig: Rig) -> None:
    # a restore recreates the veth pair: its host end is a new device, filtered again
    ct = rig.container()
    rig.hutch.start(ct)
    rig.settled(ct)
    frames = forged_frames(rig.link_local(ct))
    rig.hutch.ok("checkpoint", ct)
    assert tables(rig.ns) == []  # stopped by the checkpoint: its table went
    rig.hutch.ok("restore", ct)
    assert len(tables(rig.ns)) == 1
    rig.forwarding()
    cap = Capture(rig.nb, "packet", "nbpf1")
    try:
        rig.send(ct, [frames["mac"], frames["ip"], frames["ra"], marker(1)])
        rig.send(ct, [marker(2)])
        got = cap.wait("mark1", "mark2")
        assert got == {"mark1", "mark2"}, f"after the restore: {got}"
    finally:
        cap.close()
    rig.hutch.ok("stop", "--kill", ct)
    assert tables(rig.ns) == []


def test_readoption_cleans_up_the_table_of_a_container_gone_meanwhile(rig: Rig) -> None:
    import signal

    ct = rig.container()
    init = rig.hutch.start(ct)
    daemon = rig.hutch.daemon_pid()
    assert daemon is not None and len(tables(rig.ns)) == 1
    os.kill(daemon, signal.SIGKILL)
    assert rig.hutch.wait_exit(daemon, 10)
    os.kill(init, signal.SIGKILL)  # the container dies while nobody watches
    with contextlib.suppress(ChildProcessError):  # ours to reap: the session's subreaper
        os.waitpid(init, 0)
    # the next verb starts a hutchd, which finds the container gone and cleans up
    rig.hutch.run("stop", ct)
    assert rig.hutch.daemon_pid() not in (None, daemon)
    assert f"{ct} stopped while hutchd was away" in rig.hutch.paths.daemon_log.read_text()
    assert tables(rig.ns) == []
    assert rig.ns.link(HOST_END) is None
