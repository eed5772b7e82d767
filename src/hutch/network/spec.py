"""The typed values of a container's network: what config parses into, the plan a start
applies, and the record of what the host holds while it runs.

    Netif        one interface as configured (the config parses its text into it, netspec)
    Forward      a host port forwarded to the container (`tcp:8080:80[:ADDR]`)
    NetifPlan    one interface with every name and MAC filled in (hutch.network.plan)
    VenetPlan    the container's venet0: its host end, its MAC and its routed addresses
    NetworkPlan  all of it for one container; pure data, passed to the workers as it is
                 (they are forked: nothing is serialised on the way in)
    NetRecord    what teardown and live changes need, saved in the run state: converted
                 to and from JSON there (`to_json`, `from_json`) and when a worker returns it
    Port         a host end and the sources the anti-spoofing filter lets out of it

Addresses are `ipaddress` objects from the parse on; JSON holds their text.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# the groups of anti-spoofing rules network.allow_spoof can lift (hutch.network.portfilter)
FILTER_GROUPS = ("mac", "ip", "router")

# a netif's keys, in the order its canonical text lists them
NETIF_FIELDS = (
    "ifname",
    "type",
    "mac",
    "host_ifname",
    "host_mac",
    "bridge",
    "link",
    "mode",
    "vlan",
    "ip",
    "gateway",
    "nat",
    "mtu",
)


@dataclass(frozen=True)
class Netif:
    """One interface as config.toml describes it (names and MACs it leaves out: None)."""

    ifname: str
    type: str = "veth"
    mac: str | None = None
    host_ifname: str | None = None
    host_mac: str | None = None
    bridge: str | None = None
    link: str | None = None
    mode: str | None = None
    vlan: int | None = None
    ip: tuple[IPInterface, ...] = field(default=())
    gateway: tuple[IPAddress, ...] = field(default=())
    nat: bool = False
    mtu: int | None = None

    def to_text(self) -> str:
        """The canonical `key=value,...` form config.toml stores."""
        parts = [f"ifname={self.ifname}", f"type={self.type}"]
        for name in NETIF_FIELDS[2:]:
            value = getattr(self, name)
            if value in (None, (), False):
                continue
            if isinstance(value, tuple):
                parts += [f"{name}={v}" for v in value]
            elif isinstance(value, bool):
                parts.append(f"{name}=yes")
            else:
                parts.append(f"{name}={value}")
        return ",".join(parts)


@dataclass(frozen=True)
class Forward:
    """A host port forwarded to the container; `address` None: its first IPv4 address."""

    proto: str
    host_port: int
    ct_port: int
    address: IPAddress | None = None

    def to_text(self) -> str:
        """The canonical `PROTO:HOSTPORT:CTPORT[:CTADDR]` form config.toml stores."""
        text = f"{self.proto}:{self.host_port}:{self.ct_port}"
        return f"{text}:{self.address}" if self.address is not None else text


@dataclass(frozen=True)
class NetifPlan:
    """One interface as a start makes it: every name and MAC decided."""

    ifname: str
    type: str
    mac: str
    host_ifname: str
    host_mac: str
    bridge: str | None
    link: str | None
    mode: str
    vlan: int | None
    ip: tuple[IPInterface, ...]
    gateway: tuple[IPAddress, ...]
    mtu: int | None
    nat: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "ifname": self.ifname,
            "type": self.type,
            "mac": self.mac,
            "host_ifname": self.host_ifname,
            "host_mac": self.host_mac,
            "bridge": self.bridge,
            "link": self.link,
            "mode": self.mode,
            "vlan": self.vlan,
            "ip": [str(i) for i in self.ip],
            "gateway": [str(g) for g in self.gateway],
            "mtu": self.mtu,
            "nat": self.nat,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NetifPlan:
        return cls(
            ifname=d["ifname"],
            type=d["type"],
            mac=d["mac"],
            host_ifname=d["host_ifname"],
            host_mac=d["host_mac"],
            bridge=d.get("bridge"),
            link=d.get("link"),
            mode=d.get("mode") or "bridge",
            vlan=d.get("vlan"),
            ip=tuple(ipaddress.ip_interface(i) for i in d.get("ip") or ()),
            gateway=tuple(ipaddress.ip_address(g) for g in d.get("gateway") or ()),
            mtu=d.get("mtu"),
            nat=bool(d.get("nat")),
        )


@dataclass(frozen=True)
class VenetPlan:
    host: str  # the host end's name
    mac: str  # both ends carry it (see hutch.network.modes.venet)
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True)
class NetworkPlan:
    """What a container's network needs. `venet_host` is the name of venet's host end also
    when the plan has no venet (a live change may have made one); `own_netns` is False for
    a container sharing the host's network (hutch.network.modes.host)."""

    ctid: str
    netifs: tuple[NetifPlan, ...] = ()
    venet: VenetPlan | None = None
    venet_host: str = ""
    netdevs: tuple[str, ...] = ()
    own_netns: bool = True

    @property
    def has_network(self) -> bool:
        """Anything for the netlink workers to make (else: loopback only, or the host's)."""
        return bool(self.netifs or self.venet or self.netdevs)

    def netif(self, name: str) -> NetifPlan | None:
        return next((n for n in self.netifs if n.ifname == name), None)


@dataclass(frozen=True)
class NetRecord:
    """What the host holds for a running container's network, so that a stop, a failed
    start or a live change can remove it: the host ends of its links, the proxy ARP
    entries of venet addresses (address, uplink ifindex), the bridges its links joined,
    the host NICs lent to it; `specs`, the interfaces as last applied (None: a record of
    an older hutch, or of a container that had no links); `inner_macs`, the MACs inside
    when they are not the plan's (a restore from another host); `nft` and `portfilter`,
    the nftables tables holding its rules while it has some.

    JSON (the run state file, a worker's reply) keeps the shape of the dict it replaces:
    {"host_ifs": [...], "proxies": [[addr, idx]], "bridges": [...], "netdevs": [...],
     "specs": {ifname: {...}}, "inner_macs": {ifname: mac}, "nft": ..., "portfilter": ...}
    """

    host_ifs: tuple[str, ...] = ()
    proxies: tuple[tuple[str, int], ...] = ()
    bridges: tuple[str, ...] = ()
    netdevs: tuple[str, ...] = ()
    specs: tuple[NetifPlan, ...] | None = None
    inner_macs: tuple[tuple[str, str], ...] = ()
    nft: str | None = None
    portfilter: str | None = None

    @property
    def holds_links(self) -> bool:
        """Something of the host's for the netlink workers to take back."""
        return bool(self.host_ifs or self.proxies or self.bridges or self.netdevs)

    def inner_mac(self, ifname: str) -> str | None:
        return dict(self.inner_macs).get(ifname)

    def with_tables(self, **tables: str | None) -> NetRecord:
        """A copy with `nft=` / `portfilter=` set (None: the table is gone)."""
        return replace(self, **tables)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "host_ifs": list(self.host_ifs),
            "proxies": [[a, i] for a, i in self.proxies],
            "bridges": list(self.bridges),
            "netdevs": list(self.netdevs),
            "inner_macs": dict(self.inner_macs),
        }
        if self.specs is not None:
            out["specs"] = {n.ifname: n.to_json() for n in self.specs}
        if self.nft is not None:
            out["nft"] = self.nft
        if self.portfilter is not None:
            out["portfilter"] = self.portfilter
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> NetRecord:
        """From a state file of this hutch or an older one (an empty dict: nothing held)."""
        d = d or {}
        specs = d.get("specs")
        return cls(
            host_ifs=tuple(d.get("host_ifs") or ()),
            proxies=tuple((str(a), int(i)) for a, i in d.get("proxies") or ()),
            bridges=tuple(d.get("bridges") or ()),
            netdevs=tuple(d.get("netdevs") or ()),
            specs=None if specs is None else tuple(NetifPlan.from_json(n) for n in specs.values()),
            inner_macs=tuple((d.get("inner_macs") or {}).items()),
            nft=d.get("nft"),
            portfilter=d.get("portfilter"),
        )


@dataclass
class Held:
    """What a setup has made on the host so far: filled while it runs (mutable), frozen
    into a NetRecord when it ends."""

    host_ifs: list[str] = field(default_factory=list)
    proxies: list[tuple[str, int]] = field(default_factory=list)
    bridges: list[str] = field(default_factory=list)
    netdevs: list[str] = field(default_factory=list)
    inner_macs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, record: NetRecord) -> Held:
        return cls(
            list(record.host_ifs),
            list(record.proxies),
            list(record.bridges),
            list(record.netdevs),
            dict(record.inner_macs),
        )

    def record(self, base: NetRecord, specs: tuple[NetifPlan, ...] | None) -> NetRecord:
        """`base` (its tables pass through) with what is held now."""
        return replace(
            base,
            host_ifs=tuple(self.host_ifs),
            proxies=tuple(self.proxies),
            bridges=tuple(self.bridges),
            netdevs=tuple(self.netdevs),
            specs=specs,
            inner_macs=tuple(self.inner_macs.items()),
        )


@dataclass(frozen=True)
class Port:
    """One host end and what may come out of it. `mac`: the only source MAC (None: not
    checked). `ipv4`/`ipv6`: the source addresses allowed (None: not checked; empty: none,
    the family is dropped)."""

    device: str
    mac: str | None
    ipv4: tuple[str, ...] | None
    ipv6: tuple[str, ...] | None
    link_local: bool = True  # any fe80::/64 source (venet, or MACs not checked)
