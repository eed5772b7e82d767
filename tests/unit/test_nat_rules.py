"""The nft rules a container's config asks for (hutch.network.nat.rules_for, from the config
through hutch.container.netplan), without root."""

from __future__ import annotations

from pathlib import Path

import pytest

from hutch.config import ContainerConfig
from hutch.container.netplan import nat_rules as rules_for
from hutch.errors import InvalidConfig
from hutch.network.nat import table_name
from hutch.paths import Paths

NETIF = "ifname=eth0,type=veth,bridge=br0,ip=198.18.50.2/24,gateway=198.18.50.1"


def test_table_name_per_root():
    assert table_name(Paths(Path("/"))) == "hutch"
    other = table_name(Paths(Path("/tmp/r")))
    assert other.startswith("hutch_") and len(other) == len("hutch_") + 8


def test_masquerade_of_a_nat_netif_subnet():
    cfg = ContainerConfig.from_settings("101", {"network.netif": (NETIF + ",nat=yes",)})
    assert rules_for(cfg) == [
        ("postrouting", 'ip saddr 198.18.50.0/24 oifname != "br0" masquerade'),
    ]
    assert rules_for(ContainerConfig.from_settings("101", {"network.netif": (NETIF,)})) == []


def test_forward_to_the_first_ipv4_address_venet_first():
    cfg = ContainerConfig.from_settings(
        "101",
        {
            "network.ip_address": ("2001:db8::5", "198.18.1.10"),
            "network.netif": (NETIF,),
            "network.forward": ("tcp:8080:80",),
        },
    )
    dnat = "meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 198.18.1.10:80"
    assert rules_for(cfg) == [("prerouting", dnat), ("output", dnat)]


def test_forward_to_an_explicit_address_ipv6_too():
    cfg = ContainerConfig.from_settings("101", {"network.forward": ("udp:53:5353:2001:db8::5",)})
    (chain, rule), _ = rules_for(cfg)
    assert chain == "prerouting"
    assert rule.endswith("udp dport 53 dnat ip6 to [2001:db8::5]:5353")


def test_forward_without_an_address_is_refused():
    cfg = ContainerConfig.from_settings("101", {"network.forward": ("tcp:8080:80",)})
    with pytest.raises(InvalidConfig, match="needs an IPv4 address"):
        rules_for(cfg)


def test_host_network_mode_has_no_rules():
    cfg = ContainerConfig.from_settings(
        "101", {"network.mode": "host", "network.netif": (NETIF,), "network.forward": ("tcp:1:2",)}
    )
    assert rules_for(cfg) == []
