"""Anti-spoofing filters on the host end of a container's links (nftables, netdev ingress).

A container's root owns its network namespace: it can send any frame out of its eth0. On
a bridge that reaches the other containers and the host itself, so without a filter it can
take a neighbour's IP address (a gratuitous ARP), send as another MAC, or announce itself
as the IPv6 router of the link (an RA: the host and every neighbour that accepts RAs make
it their default route). What hutch drops, on every frame the container sends:

    router  ICMPv6 router advertisements (134) and redirects (137), ICMP redirects, and
            DHCP/DHCPv6 server replies (UDP from port 67 or 547): the container is not the
            link's router or DHCP server
    mac     frames, and ARP whose sender hardware address is another MAC than its own
    ip      other protocols than IPv4, ARP and IPv6 (VLAN tags, STP, ... carry addresses
            these rules do not read); IPv4 and ARP from other addresses than its own
            (ARP probes from 0.0.0.0 pass); IPv6 from other addresses than its own and the
            link-local one of its MAC (EUI-64, what the kernel gives a new interface), `::`
            only for duplicate address detection and MLD; neighbour advertisements for
            other targets

The container's own addresses are those of its config: a netif's `ip=` (a netif with no
`ip=` learns its addresses itself, by DHCP, SLAAC or its own config, so its source
addresses are not checked — the MAC, protocol and router rules still hold), and venet's
addresses (routed: the host would forward a forged source address; there are no MACs to
check or neighbours to fool, so only the `ip` and `router` rules apply — an RA over venet
would make the host route its IPv6 into the container). `network.allow_spoof` lifts a
group of rules for a container (a container that is the router of its bridge, or runs
virtual machines with MACs of their own).

macvlan, vlan and phys links have no host end: their frames go to the host's segment
without passing through the host's network namespace, and a filter in the container's
own namespace would be the container's root's to delete. They are not filtered.

How: one `netdev` table per container (`hutch_ct_<ID>`, `hutch_<8 hex>_ct_<ID>` for
another --root), one chain per host end, hooked at its ingress — before bridging and
before routing, so the same rules hold for bridge ports (hutch's bridges and the host's)
and for venet. The rules are derived from the network plan alone (`ports`, `ruleset`:
pure), written as one nft script that replaces the table in one transaction, so a start
costs one nft run. Stop, a failed start and re-adoption cleanup delete the table;
already gone is fine. A table left by a crash is replaced at the container's next start.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import subprocess

from hutch.errors import KernelFeatureMissing, OperationFailed
from hutch.network import modes
from hutch.network.nat import nft_path
from hutch.network.spec import FILTER_GROUPS, NetRecord, NetworkPlan, Port
from hutch.paths import Paths

__all__ = ["ALLOW", "Port", "apply", "ports", "remove", "ruleset", "table_name"]

# the groups of rules network.allow_spoof lifts (besides "all": every one)
ALLOW = FILTER_GROUPS
NFT_TIMEOUT = 10.0
PRIORITY = -500  # before any other ingress chain a host may have
_NAME = re.compile(r"[A-Za-z0-9_.]+")


def table_name(paths: Paths, ctid: str) -> str:
    """The container's table: hutch-named (a leak check finds them by the prefix)."""
    prefix = paths.cgroup_name.replace("-", "_")
    if _NAME.fullmatch(ctid):
        return f"{prefix}_ct_{ctid}"
    # nft names have no '-': web-1 and web_1 must not share a table
    return f"{prefix}_ct_{ctid.replace('-', '_')}_{hashlib.sha256(ctid.encode()).hexdigest()[:6]}"


def allowed(words: tuple[str, ...] | list[str]) -> frozenset[str]:
    return frozenset(ALLOW) if "all" in words else frozenset(words)


# -- the plan (pure) ---------------------------------------------------------------------


def eui64_link_local(mac: str) -> str:
    """fe80::/64 with the interface ID the kernel derives from a MAC (RFC 4291 app. A)."""
    b = [int(x, 16) for x in mac.split(":")]
    iid = bytes([b[0] ^ 0x02, b[1], b[2], 0xFF, 0xFE, b[3], b[4], b[5]])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid))


def ports(plan: NetworkPlan, record: NetRecord | None = None) -> list[Port]:
    """The host ends of a network plan and their allowed sources, as each link's mode
    sees them (hutch.network.modes: veth and venet have one). `record`: the network record
    of what runs; after a restore it holds the MACs the container's interfaces really
    have (`inner_macs`), which can be another host's."""
    out = []
    for mode, item in modes.links(plan):
        port = mode.port(item, record)
        if port is not None:
            out.append(port)
    return out


def port_rules(port: Port, allow: frozenset[str]) -> list[str]:
    """The nft rules of one host end (in order: the first match decides)."""
    rules = []
    if "router" not in allow:
        rules += [
            "icmpv6 type { nd-router-advert, nd-redirect } drop",
            "icmp type redirect drop",
            "udp sport { 67, 547 } drop",
        ]
    mac_checked = port.mac is not None and "mac" not in allow
    if mac_checked:
        rules += [f"ether saddr != {port.mac} drop", f"arp saddr ether != {port.mac} drop"]
    if "ip" in allow:
        return rules
    rules.append("ether type != { ip, arp, ip6 } drop")
    if port.ipv4 is not None:
        if port.ipv4:
            rules.append(f"arp saddr ip != {_set(['0.0.0.0', *port.ipv4])} drop")
            rules.append(f"ip saddr != {_set(port.ipv4)} drop")
        else:
            rules.append("ether type { ip, arp } drop")
    if port.ipv6 is not None:
        own = list(port.ipv6)
        if port.link_local or not mac_checked or port.mac is None:
            own.append("fe80::/64")
        else:
            own.append(eui64_link_local(port.mac))
        rules.append(
            "ip6 saddr :: icmpv6 type "
            "{ nd-neighbor-solicit, mld-listener-report, mld2-listener-report } accept"
        )
        rules.append(f"ip6 saddr != {_set(own)} drop")
        targets = [a for a in own if "/" not in a]
        if "fe80::/64" not in own:  # the target of an advertisement: one of its own
            hexes = [f"0x{int(ipaddress.IPv6Address(a)):032x}" for a in targets]
            rules.append(f"icmpv6 type nd-neighbor-advert @th,64,128 != {_set(hexes)} drop")
    return rules


def _set(items: list[str] | tuple[str, ...]) -> str:
    return "{ " + ", ".join(dict.fromkeys(items)) + " }"


def ruleset(table: str, wanted: list[Port], allow: frozenset[str]) -> str:
    """The nft script that makes the table exactly `wanted` (deleted when nothing is
    filtered): `add` then `delete` then the new table, one transaction."""
    lines = [f"add table netdev {table}", f"delete table netdev {table}"]
    chains = [(p, port_rules(p, allow)) for p in wanted]
    chains = [(p, r) for p, r in chains if r]
    if chains:
        lines.append(f"table netdev {table} {{")
        for i, (port, rules) in enumerate(chains):
            lines.append(f"  chain port{i} {{")
            lines.append(
                f'    type filter hook ingress device "{port.device}" '
                f"priority {PRIORITY}; policy accept;"
            )
            lines += [f"    {r}" for r in rules]
            lines.append("  }")
        lines.append("}")
    return "\n".join(lines) + "\n"


# -- applying ----------------------------------------------------------------------------


def apply(
    paths: Paths,
    ctid: str,
    plan: NetworkPlan,
    allow_spoof: tuple[str, ...],
    record: NetRecord,
) -> NetRecord:
    """Make the container's table what its plan asks for (one nft run). Returns `record`
    (the network record) with `portfilter` set to the table name while there is one."""
    allow = allowed(allow_spoof)
    wanted = [p for p in ports(plan, record) if port_rules(p, allow)]
    if not wanted and not record.portfilter:
        return record  # nothing to filter, nothing made: nft need not even be installed
    table = table_name(paths, ctid)
    _nft(ruleset(table, wanted, allow), f"container {ctid}")
    return record.with_tables(portfilter=table if wanted else None)


def remove(paths: Paths, ctid: str) -> None:
    """Delete the container's table; already gone (or no nft at all) is fine."""
    if nft_path() is None:
        return
    table = table_name(paths, ctid)
    _nft(f"add table netdev {table}\ndelete table netdev {table}\n", f"container {ctid}")


def _nft(script: str, what: str) -> None:
    nft = nft_path()
    if nft is None:
        raise KernelFeatureMissing(
            f"{what}: the anti-spoofing filter of its links needs the nft command",
            hint='apt-get install nftables (or network.allow_spoof = ["all"])',
        )
    try:
        p = subprocess.run(
            [nft, "-f", "-"],
            input=script,
            capture_output=True,
            text=True,
            timeout=NFT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise OperationFailed(f"{what}: nft did not answer within {NFT_TIMEOUT:g}s") from None
    if p.returncode != 0:
        errors = [line for line in p.stderr.splitlines() if line.startswith("Error")]
        message = errors[0] if errors else p.stderr.strip() or f"exit status {p.returncode}"
        if "Operation not supported" in message:
            raise KernelFeatureMissing(
                f"{what}: nft: {message} (is nf_tables with the netdev family built?)"
            )
        raise OperationFailed(f"{what}: filtering its links: nft: {message}")
