"""A container's network, as config.toml and `hutch set` write it, parsed and checked.

    [network]
    mode = "private"                          # or "host": share the host's network
    ip_address = ["198.18.1.10", "2001:db8::a"]   # venet (OpenVZ IP_ADDRESS): routed, /32
    nameserver = ["198.18.0.1"]
    searchdomain = ["example.com"]
    netif = ["ifname=eth0,type=veth,bridge=br0,ip=198.18.2.10/24,gateway=198.18.2.1"]
    netdev = ["eth1"]                          # host NICs moved in (phys), given back on stop
    forward = ["tcp:8080:80"]                  # host port -> container port (nftables)

A netif is `key=value,...` (vzctl's positional `eth1,mac,host_ifname,host_mac,bridge` is
accepted by `--netif_add` and stored as key=value). Types: veth (on a bridge), macvlan
(mode private|vepa|bridge|passthru, link=parent), vlan (id, link=parent), empty.
"""

from __future__ import annotations

import ipaddress
import re
from ipaddress import IPv4Address, IPv6Address

from hutch.network import modes
from hutch.network.modes.macvlan import MODES as MACVLAN_MODES
from hutch.network.spec import NETIF_FIELDS as _FIELDS
from hutch.network.spec import Forward, IPAddress, IPInterface, Netif

TYPES = tuple(modes.LINKS)
_IFNAME = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")
_MAC = re.compile(r"([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}")
_POSITIONAL = ("ifname", "mac", "host_ifname", "host_mac", "bridge")


def ifname(text: str) -> str:
    if not _IFNAME.fullmatch(text) or text in (".", ".."):
        raise ValueError(f"{text!r} is not an interface name (1-15 letters, digits, -_.)")
    return text


def mac(text: str) -> str:
    if not _MAC.fullmatch(text):
        raise ValueError(f"{text!r} is not a MAC address (write 02:00:00:aa:bb:cc)")
    if int(text[:2], 16) & 1:
        raise ValueError(f"{text!r} is a multicast MAC address")
    return text.lower()


def ip_address(text: str) -> IPAddress:
    """An IPv4 or IPv6 address without prefix (venet: always /32 or /128)."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None


def address(text: str) -> str:
    """An address in its normal text form (what config.toml keeps)."""
    return str(ip_address(text))


def interface_address(text: str) -> IPInterface:
    """ADDRESS/PREFIX (a bare address gets /32 or /128)."""
    try:
        return ipaddress.ip_interface(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address with prefix (198.18.0.2/24)") from None


def parse_netif(text: str) -> Netif:
    fields = [i.strip() for i in text.split(",")]
    if not any(fields):
        raise ValueError("empty interface description")
    if "=" not in fields[0]:  # vzctl: ifname,mac,host_ifname,host_mac,bridge (may be empty)
        if len(fields) > len(_POSITIONAL):
            raise ValueError(f"{text!r}: at most {len(_POSITIONAL)} positional fields")
        items = [f"{k}={v}" for k, v in zip(_POSITIONAL, fields, strict=False) if v]
    else:
        items = [f for f in fields if f]
    values: dict[str, object] = {}
    ips: list[IPInterface] = []
    gws: list[IPAddress] = []
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq or key not in _FIELDS:
            raise ValueError(f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(_FIELDS)}")
        value = value.strip()
        if key == "ip":
            ips.append(interface_address(value))
        elif key == "gateway":
            gws.append(ip_address(value))
        elif key in ("ifname", "host_ifname", "bridge", "link"):
            values[key] = ifname(value)
        elif key in ("mac", "host_mac"):
            values[key] = mac(value)
        elif key == "type":
            if value not in TYPES:
                raise ValueError(f"type {value!r}: one of {', '.join(TYPES)}")
            values[key] = value
        elif key == "mode":
            if value not in MACVLAN_MODES:
                raise ValueError(f"macvlan mode {value!r}: one of {', '.join(MACVLAN_MODES)}")
            values[key] = value
        elif key in ("vlan", "mtu"):
            if not value.isdigit():
                raise ValueError(f"{key} {value!r} is not a number")
            values[key] = int(value)
        elif key == "nat":
            values[key] = value.lower() in ("yes", "true", "on", "1")
    if "ifname" not in values:
        raise ValueError(f"{text!r}: ifname is missing")
    netif = Netif(ip=tuple(ips), gateway=tuple(gws), **values)  # type: ignore[arg-type]
    _check(netif)
    return netif


def _check(n: Netif) -> None:
    """What the interface's type refuses (its mode module's check), then what all do."""
    modes.link_mode(n.type).check(n)
    if n.vlan is not None and not 1 <= n.vlan <= 4094:
        raise ValueError(f"{n.ifname}: vlan id {n.vlan} is not 1-4094")


def canonical_netif(text: str) -> str:
    return parse_netif(text).to_text()


def parse_netifs(value: object) -> tuple[Netif, ...]:
    items = _strings(value)
    netifs = [parse_netif(i) for i in items]
    names = [n.ifname for n in netifs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"interface {sorted(dup)[0]} is defined twice")
    if "venet0" in names or "lo" in names:
        raise ValueError("venet0 and lo are hutch's own interface names")
    return tuple(netifs)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [v for v in re.split(r"[\s;]+", value) if v] if "=" not in value else [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("expected an array of strings")


def parse_addresses(value: object) -> tuple[IPAddress, ...]:
    return tuple(dict.fromkeys(ip_address(v) for v in _split_words(value)))


def parse_ifnames(value: object) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ifname(v) for v in _split_words(value)))


def parse_domains(value: object) -> tuple[str, ...]:
    out = []
    for v in _split_words(value):
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?", v):
            raise ValueError(f"{v!r} is not a domain name")
        out.append(v)
    return tuple(out)


def _split_words(value: object) -> list[str]:
    if isinstance(value, str):
        return [v for v in re.split(r"[\s,]+", value) if v]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return [w for v in value for w in re.split(r"[\s,]+", v) if w]
    raise ValueError("expected a list of strings")


_FORWARD = re.compile(r"(tcp|udp):(\d{1,5}):(\d{1,5})(?::(.+))?")


def parse_forward(text: str) -> str:
    """`PROTO:HOSTPORT:CTPORT[:CTADDR]` — tcp:8080:80."""
    m = _FORWARD.fullmatch(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not PROTO:HOSTPORT:CTPORT (e.g. tcp:8080:80)")
    for port in (m.group(2), m.group(3)):
        if not 1 <= int(port) <= 65535:
            raise ValueError(f"{text!r}: port {port} is not 1-65535")
    if m.group(4):
        address(m.group(4))
    return text.strip()


def forward(text: str) -> Forward:
    """A checked forward (parse_forward) as a typed value."""
    m = _FORWARD.fullmatch(parse_forward(text))
    assert m is not None  # parse_forward matched it
    proto, host_port, ct_port, addr = m.groups()
    return Forward(proto, int(host_port), int(ct_port), ip_address(addr) if addr else None)


def parse_forwards(value: object) -> tuple[Forward, ...]:
    return tuple(forward(v) for v in _split_words(value))


# Renderers: typed list items -> the strings config.toml keeps. Text given where a typed
# value is due (the library edge takes both) passes through, for the check to read.


def render_netifs(netifs: tuple[Netif | str, ...]) -> list[object]:
    return [n.to_text() if isinstance(n, Netif) else n for n in netifs]


def render_addresses(addresses: tuple[IPAddress | str, ...]) -> list[object]:
    return [str(a) if isinstance(a, (IPv4Address, IPv6Address)) else a for a in addresses]


def render_forwards(forwards: tuple[Forward | str, ...]) -> list[object]:
    return [f.to_text() if isinstance(f, Forward) else f for f in forwards]


def parse_mode(text: str) -> str:
    if text not in modes.NETNS_MODES:
        raise ValueError(f"{text!r}: network mode is private (own network) or host")
    return text
