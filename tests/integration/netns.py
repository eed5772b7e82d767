"""A throwaway network namespace playing the host's network, for the network tests.

Root tests must never configure the machine's own network. `HostNetns` creates a named
namespace (`ip netns add`), and `attach(hutch)` makes a conftest `Hutch` run its CLI under
`nsenter --net=/run/netns/NAME` — so hutchd, which the CLI starts on demand, inherits that
namespace too, and every host-side device, route, proxy neighbour and sysctl hutch sets up
lands there. (`ip netns exec` is not used: it remounts /sys, which hides /sys/fs/cgroup.)

    ns = HostNetns.create("hutch-t123")
    ns.attach(hutch)                  # hutch.ok(...) now runs in the namespace
    before = ns.snapshot()
    ...                               # start and stop containers
    assert ns.snapshot().diff(before) == []
    ns.close()                        # checks it is as created, then deletes it

Every command gets a timeout. Scratch devices a test makes with `veth()` are recorded and
removed by `remove_scratch()`. `Capture` is a raw packet capture inside a container's network
namespace (busybox has no tcpdump): an AF_PACKET socket, promiscuous on every interface.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

CMD_TIMEOUT = 15.0
NSENTER = "nsenter"


class NetnsError(AssertionError):
    """A command of the network helper failed (an assertion: the test fails, naming it)."""


def run(argv: list[str], timeout: float = CMD_TIMEOUT, check: bool = True) -> str:
    try:
        p = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise NetnsError(f"{' '.join(argv)} hung (> {timeout}s)") from None
    if check and p.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


# -- what a network namespace holds, compared ------------------------------------------------


@dataclass(frozen=True)
class NetSnapshot:
    """Links (name, kind, master, up), addresses, routes (main and local tables, both
    families) and proxy neighbour entries of one namespace, as sets of readable strings."""

    links: frozenset[str]
    addrs: frozenset[str]
    routes: frozenset[str]
    proxies: frozenset[str]

    def diff(self, before: NetSnapshot, ignore_devs: frozenset[str] = frozenset()) -> list[str]:
        """What differs from `before` to this one (`ignore_devs`: a test's own devices and
        what sits on them — but never proxy entries, which only hutch adds)."""

        def mine(item: str) -> bool:
            return any(f" dev {d} " in f"{item} " or item.startswith(f"{d} ") for d in ignore_devs)

        out = []
        for what, one in (
            ("links", "link"),
            ("addrs", "addr"),
            ("routes", "route"),
            ("proxies", "proxy"),
        ):
            now, then = getattr(self, what), getattr(before, what)
            for item in sorted(now - then):
                if what == "proxies" or not mine(item):
                    out.append(f"{one} appeared: {item}")
            for item in sorted(then - now):
                if what == "proxies" or not mine(item):
                    out.append(f"{one} vanished: {item}")
        return out


def _snapshot(prefix: list[str]) -> NetSnapshot:
    def ip_json(*args: str) -> list[dict[str, Any]]:
        return json.loads(run([*prefix, "ip", "-j", *args]) or "[]")

    links = ip_json("-d", "link", "show")
    names = {link["ifindex"]: link["ifname"] for link in links}
    link_set = set()
    for link in links:
        kind = link.get("linkinfo", {}).get("info_kind", "-")
        master = link.get("master", "-")
        up = "UP" if "UP" in link.get("flags", []) else "down"
        link_set.add(f"{link['ifname']} {kind} master={master} {up}")
    addrs = set()
    for link in ip_json("addr", "show"):
        for a in link.get("addr_info", []):
            if not a.get("local", "").startswith("fe80:"):  # kernel-made, per device
                addrs.add(f"{link['ifname']} {a['local']}/{a['prefixlen']}")
    routes = set()
    for family in ("-4", "-6"):
        for table in ("main", "local"):
            for r in ip_json(family, "route", "show", "table", table):
                if r.get("dst", "").startswith(("fe80:", "ff00:")):
                    continue  # kernel-made with each IPv6 device
                dev = r.get("dev", "-")
                gw = f" via {r['gateway']}" if "gateway" in r else ""
                routes.add(f"{table} {r.get('type', 'unicast')} {r['dst']}{gw} dev {dev}")
    proxies = set()
    for n in ip_json("neigh", "show", "proxy"):
        proxies.add(f"{n['dst']} dev {n.get('dev', names.get(n.get('ifindex'), '?'))}")
    return NetSnapshot(frozenset(link_set), frozenset(addrs), frozenset(routes), frozenset(proxies))


# -- the namespace ---------------------------------------------------------------------------


@dataclass
class HostNetns:
    name: str
    scratch: list[str] = field(default_factory=list)  # devices the test made (one end each)
    peers: list[HostNetns] = field(default_factory=list)  # "outside" namespaces made here
    baseline: NetSnapshot | None = None
    _attached: list[Any] = field(default_factory=list)

    @classmethod
    def create(cls, name: str) -> HostNetns:
        if os.path.exists(f"/run/netns/{name}"):
            raise NetnsError(f"network namespace {name} exists already: not ours to use")
        run(["ip", "netns", "add", name])
        ns = cls(name)
        ns.ip("link", "set", "lo", "up")
        ns.baseline = ns.snapshot()
        return ns

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    @property
    def prefix(self) -> list[str]:
        """argv prefix that runs a command in this namespace (and nothing else changed)."""
        return [NSENTER, f"--net={self.path}"]

    def run(self, *argv: str, timeout: float = CMD_TIMEOUT, check: bool = True) -> str:
        return run([*self.prefix, *argv], timeout=timeout, check=check)

    def ip(self, *args: str, check: bool = True) -> str:
        return run(["ip", "-n", self.name, *args], check=check)

    def ip_json(self, *args: str) -> Any:
        return json.loads(self.ip("-j", *args) or "[]")

    def snapshot(self) -> NetSnapshot:
        return _snapshot(self.prefix)

    def link(self, name: str) -> dict[str, Any] | None:
        """`ip -d link show NAME` in this namespace, or None when there is no such device."""
        out = run(["ip", "-n", self.name, "-j", "-d", "link", "show", "dev", name], check=False)
        return json.loads(out)[0] if out.strip() else None

    # hutch in here

    def attach(self, hutch: Any) -> None:
        """Make a conftest `Hutch` run its CLI (and so its hutchd) in this namespace."""
        plain = type(hutch).argv.__get__(hutch)
        hutch.argv = lambda *args: [*self.prefix, *plain(*args)]
        self._attached.append(hutch)

    def detach(self) -> None:
        for hutch in self._attached:
            with contextlib.suppress(AttributeError):
                del hutch.argv
        self._attached.clear()

    # scratch devices and other namespaces

    def veth(self, name: str, peer: str, peer_ns: HostNetns | None = None) -> None:
        """A veth pair, both ends up: `name` here, `peer` here or in `peer_ns`."""
        where = ["netns", peer_ns.path] if peer_ns is not None else []
        self.ip("link", "add", name, "type", "veth", "peer", "name", peer, *where)
        self.scratch.append(name)
        if peer_ns is None:
            self.scratch.append(peer)  # gone with `name`; listed so leftovers() skips it
        self.ip("link", "set", name, "up")
        (peer_ns or self).ip("link", "set", peer, "up")

    def bridge(self, name: str) -> None:
        self.ip("link", "add", name, "type", "bridge")
        self.scratch.append(name)
        self.ip("link", "set", name, "up")

    def peer(self, name: str) -> HostNetns:
        """Another namespace ("the outside", another host), deleted with this one."""
        other = HostNetns.create(name)
        self.peers.append(other)
        return other

    def remove_scratch(self) -> None:
        for dev in reversed(self.scratch):
            self.ip("link", "del", dev, check=False)  # a veth pair goes as a whole
        self.scratch.clear()
        for other in self.peers:
            other.close()
        self.peers.clear()

    def leftovers(self, before: NetSnapshot, wait: float = 3.0) -> list[str]:
        """Differences from `before`, after giving the kernel `wait` s to finish teardown
        (a namespace of a dead init goes away asynchronously)."""
        deadline = time.monotonic() + wait
        while True:
            found = self.snapshot().diff(before, frozenset(self.scratch))
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def close(self) -> list[str]:
        """Remove scratch devices, check the namespace is as created, delete it.
        Returns what was left (the namespace is deleted anyway)."""
        problems = []
        try:
            self.remove_scratch()
            if self.baseline is not None:
                problems = [f"netns {self.name}: {p}" for p in self.leftovers(self.baseline)]
        finally:
            self.detach()
            run(["ip", "netns", "del", self.name], check=False)
        return problems


def in_netns_of(pid: int, *argv: str, timeout: float = CMD_TIMEOUT, check: bool = True) -> str:
    """Run a host program in the network namespace of process `pid` (a container's init):
    the host's full `ip` against the container's network, seen from the inside."""
    return run([NSENTER, f"--net=/proc/{pid}/ns/net", *argv], timeout=timeout, check=check)


def ct_link(pid: int, name: str, stats: bool = False) -> dict[str, Any] | None:
    """`ip -d link show NAME` (with `-s`: and its counters) in a container, or None."""
    more = ["-s"] if stats else []
    out = in_netns_of(pid, "ip", "-j", "-d", *more, "link", "show", "dev", name, check=False)
    return json.loads(out)[0] if out.strip() else None


def ct_addrs(pid: int, name: str) -> list[str]:
    """ADDR/PREFIX of one device in a container, link-local IPv6 left out."""
    out = in_netns_of(pid, "ip", "-j", "addr", "show", "dev", name, check=False)
    links = json.loads(out) if out.strip() else []
    return [
        f"{a['local']}/{a['prefixlen']}"
        for link in links
        for a in link.get("addr_info", [])
        if not a["local"].startswith("fe80:")
    ]


# -- a raw capture inside a container ---------------------------------------------------------

_CAPTURE = r"""
import select, socket, struct, sys
ETH_P_ALL, SOL_PACKET, PACKET_ADD_MEMBERSHIP, PACKET_MR_PROMISC = 3, 263, 1, 1
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
for index, _name in socket.if_nameindex():
    mreq = struct.pack("iHH8s", index, PACKET_MR_PROMISC, 0, b"")
    s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
watch = {socket.inet_aton(a) for a in sys.argv[1:]}
hits, others = 0, []
print("ready", flush=True)
while True:
    ready, _, _ = select.select([s, sys.stdin], [], [])
    if s in ready:
        data, (ifname, _proto, pkttype, _hatype, _addr) = s.recvfrom(65535)
        kind = data[12:14]
        if kind == b"\x08\x06":  # ARP: any, on a routed venet there is none
            hits += 1
        elif kind == b"\x08\x00" and (data[26:30] in watch or data[30:34] in watch):
            hits += 1
        else:
            way = "out" if pkttype == 4 else "in"  # PACKET_OUTGOING
            others.append(f"{ifname}:{way}:{kind.hex()}>{data[:6].hex()}")
    if sys.stdin in ready:
        if not sys.stdin.readline():
            break
        print(hits, ",".join(others) or "-", flush=True)
        hits, others = 0, []
"""


class Capture:
    """Every frame on every interface of a container's network namespace (promiscuous), as
    a process of that namespace with root sees them (what tcpdump inside would see).
    `counts()`, since the last call: the frames naming one of `addresses` (IPv4 source or
    destination) or ARP, and the others as `IF:in|out:ETHERTYPE>DSTMAC`."""

    def __init__(self, pid: int, addresses: list[str]) -> None:
        self.proc = subprocess.Popen(
            [NSENTER, f"--net=/proc/{pid}/ns/net", sys.executable, "-c", _CAPTURE, *addresses],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if self._line() != "ready":
            self.close()
            raise NetnsError(f"capture did not start: {self.proc.stderr.read()}")  # type: ignore[union-attr]

    def _line(self, timeout: float = 10.0) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise NetnsError(f"capture silent for {timeout}s")
        return self.proc.stdout.readline().strip()

    def counts(self) -> tuple[int, list[str]]:
        assert self.proc.stdin is not None
        time.sleep(0.1)  # frames still on their way through the stack
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        hits, others = self._line().split()
        return int(hits), [] if others == "-" else others.split(",")

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
