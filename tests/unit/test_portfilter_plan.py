"""The anti-spoofing rules of a container's host ends (hutch.network.portfilter), without root:
which ports are filtered, with which addresses, and the nft script one start runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from hutch.config import ContainerConfig
from hutch.config.schema import KEY_BY_NAME
from hutch.container.netplan import network_plan
from hutch.network.names import stable_mac
from hutch.network.portfilter import (
    Port,
    allowed,
    eui64_link_local,
    port_rules,
    ports,
    ruleset,
    table_name,
)
from hutch.network.spec import NetRecord, NetworkPlan
from hutch.paths import Paths

MAC = "02:00:5e:12:00:0a"
STATIC = f"ifname=eth0,bridge=br0,mac={MAC},host_ifname=hv0,ip=198.18.3.2/24,ip=2001:db8::2/64"
NONE: frozenset[str] = frozenset()


def plan(*netifs: str, venet: tuple[str, ...] = ()) -> NetworkPlan:
    cfg = ContainerConfig.from_settings(
        "101", {"network.netif": netifs, "network.ip_address": venet}
    )
    return network_plan(cfg, "/")


def test_table_names_are_hutchs_own_per_root_and_container():
    assert table_name(Paths(Path("/")), "101") == "hutch_ct_101"
    other = table_name(Paths(Path("/tmp/r")), "101")
    assert other.startswith("hutch_") and other.endswith("_ct_101")
    # nft names have no '-': two IDs that differ only there keep two tables
    a, b = (table_name(Paths(Path("/")), i) for i in ("web-1", "web_1"))
    assert a != b and "-" not in a and a.startswith("hutch_ct_web_1_")


def test_eui64_link_local_as_the_kernel_makes_it():
    assert eui64_link_local("02:00:5e:12:00:0a") == "fe80::5eff:fe12:a"
    assert eui64_link_local("52:54:00:12:34:56") == "fe80::5054:ff:fe12:3456"


def test_a_static_veth_allows_its_addresses_its_mac_and_its_link_local():
    (port,) = ports(plan(STATIC))
    assert port == Port("hv0", MAC, ("198.18.3.2",), ("2001:db8::2",), link_local=False)
    rules = port_rules(port, NONE)
    assert rules == [
        "icmpv6 type { nd-router-advert, nd-redirect } drop",
        "icmp type redirect drop",
        "udp sport { 67, 547 } drop",
        f"ether saddr != {MAC} drop",
        f"arp saddr ether != {MAC} drop",
        "ether type != { ip, arp, ip6 } drop",
        "arp saddr ip != { 0.0.0.0, 198.18.3.2 } drop",
        "ip saddr != { 198.18.3.2 } drop",
        "ip6 saddr :: icmpv6 type "
        "{ nd-neighbor-solicit, mld-listener-report, mld2-listener-report } accept",
        "ip6 saddr != { 2001:db8::2, fe80::5eff:fe12:a } drop",
        "icmpv6 type nd-neighbor-advert @th,64,128 != "
        "{ 0x20010db8000000000000000000000002, 0xfe8000000000000000005efffe12000a } drop",
    ]


def test_the_router_rules_come_first_so_no_accept_lets_an_ra_pass():
    rules = port_rules(ports(plan(STATIC))[0], NONE)
    first_accept = next(i for i, r in enumerate(rules) if r.endswith("accept"))
    assert all(i < first_accept for i, r in enumerate(rules) if "router-advert" in r)


def test_a_static_netif_of_one_family_drops_the_other():
    (port,) = ports(plan(f"ifname=eth0,bridge=br0,mac={MAC},ip=198.18.3.2/24"))
    assert port.ipv6 == ()
    rules = port_rules(port, NONE)
    assert f"ip6 saddr != {{ {eui64_link_local(MAC)} }} drop" in rules  # link-local only
    (port,) = ports(plan(f"ifname=eth0,bridge=br0,mac={MAC},ip=2001:db8::2/64"))
    assert "ether type { ip, arp } drop" in port_rules(port, NONE)


def test_a_netif_without_addresses_keeps_mac_protocol_and_router_rules():
    # it learns its addresses itself (DHCP, SLAAC): the sources cannot be known
    (port,) = ports(plan(f"ifname=eth0,bridge=br0,mac={MAC}"))
    assert port.ipv4 is None and port.ipv6 is None
    rules = port_rules(port, NONE)
    assert f"ether saddr != {MAC} drop" in rules
    assert "icmpv6 type { nd-router-advert, nd-redirect } drop" in rules
    assert "ether type != { ip, arp, ip6 } drop" in rules
    assert not any("saddr ip" in r or "ip saddr" in r or "ip6 saddr" in r for r in rules)


def test_generated_mac_and_host_name_and_a_restored_mac():
    p = plan("ifname=eth0,bridge=br0,ip=198.18.3.2/24")
    (port,) = ports(p)
    assert port.device == "veth101.0" and port.mac == stable_mac("/", "101", "eth0")
    # after a restore the record knows the MAC the interface really has
    (port,) = ports(p, NetRecord(inner_macs=(("eth0", "02:11:22:33:44:55"),)))
    assert port.mac == "02:11:22:33:44:55"


def test_venet_checks_sources_and_routers_not_macs():
    (port,) = ports(plan(venet=("198.18.9.1", "2001:db8::9")))
    assert port == Port("vn101", None, ("198.18.9.1",), ("2001:db8::9",), link_local=True)
    rules = port_rules(port, NONE)
    assert not any("ether saddr" in r for r in rules)
    assert "ip saddr != { 198.18.9.1 } drop" in rules
    assert "ip6 saddr != { 2001:db8::9, fe80::/64 } drop" in rules
    assert "icmpv6 type { nd-router-advert, nd-redirect } drop" in rules
    # an IPv4-only venet sends no IPv6 but its link-local (and never an RA)
    (port,) = ports(plan(venet=("198.18.9.1",)))
    assert "ip6 saddr != { fe80::/64 } drop" in port_rules(port, NONE)


def test_macvlan_and_vlan_have_no_host_end_to_filter():
    p = plan("ifname=eth0,type=macvlan,link=up0", "ifname=eth1,type=vlan,link=up0,vlan=5")
    assert ports(p) == []


def test_allow_groups_lift_their_rules_only():
    port = ports(plan(STATIC))[0]
    router = port_rules(port, frozenset({"router"}))
    assert not any("router-advert" in r or "sport" in r for r in router)
    assert f"ether saddr != {MAC} drop" in router
    mac = port_rules(port, frozenset({"mac"}))
    assert not any("ether saddr" in r for r in mac)
    # other MACs mean other EUI-64 link-locals: any fe80::/64 then
    assert "ip6 saddr != { 2001:db8::2, fe80::/64 } drop" in mac
    ip = port_rules(port, frozenset({"ip"}))
    assert not any("saddr ip" in r or "ip saddr" in r or "ether type" in r for r in ip)
    assert f"arp saddr ether != {MAC} drop" in ip
    assert port_rules(port, allowed(["all"])) == []


def test_ruleset_replaces_the_table_in_one_script():
    table = "hutch_ct_101"
    p = plan(STATIC, "ifname=eth1,bridge=br1", venet=("198.18.9.1",))
    script = ruleset(table, ports(p), NONE)
    lines = script.splitlines()
    # add+delete first: the old table goes whether there was one or not, atomically
    assert lines[:3] == [
        f"add table netdev {table}",
        f"delete table netdev {table}",
        f"table netdev {table} {{",
    ]
    hooks = [line.strip() for line in lines if "hook ingress" in line]
    assert [h.split('"')[1] for h in hooks] == ["hv0", "veth101.1", "vn101"]
    assert all("priority -500; policy accept;" in h for h in hooks)
    # nothing to filter: only the deletion
    assert ruleset(table, ports(p), allowed(["all"])).splitlines() == lines[:2]


def test_allow_spoof_key_checks_its_words():
    key = KEY_BY_NAME["network.allow_spoof"]
    assert key.default == () and key.live
    assert key.parse("router,mac") == ("router", "mac")
    with pytest.raises(ValueError, match="allow_spoof takes"):
        key.parse("arp")
    with pytest.raises(ValueError):
        key.check("router")
