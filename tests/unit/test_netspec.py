"""Network config parsing: netif specs (key=value and vzctl positional), addresses, forwards,
and the names and MACs hutch makes up."""

from __future__ import annotations

from ipaddress import ip_address, ip_interface

import pytest

from hutch.config.netspec import (
    forward,
    parse_addresses,
    parse_forward,
    parse_forwards,
    parse_netif,
    parse_netifs,
    render_addresses,
    render_forwards,
)
from hutch.network.names import host_name, stable_mac
from hutch.network.spec import Forward


def test_key_value_netif_round_trips():
    text = (
        "ifname=eth0,type=veth,mac=02:00:00:00:00:01,bridge=br0,ip=198.18.0.2/24,gateway=198.18.0.1"
    )
    n = parse_netif(text)
    assert (n.ifname, n.bridge, n.ip, n.gateway) == (
        "eth0",
        "br0",
        (ip_interface("198.18.0.2/24"),),
        (ip_address("198.18.0.1"),),
    )
    assert parse_netif(n.to_text()) == n


def test_vzctl_positional_netif_with_empty_fields():
    n = parse_netif("eth1,02:00:00:00:00:01,veth101.1,,br0")
    assert (n.ifname, n.mac, n.host_ifname, n.host_mac, n.bridge) == (
        "eth1",
        "02:00:00:00:00:01",
        "veth101.1",
        None,
        "br0",
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ifname=eth0,type=macvlan", "needs link="),
        ("ifname=eth0,type=vlan,link=eth1", "needs vlan="),
        ("ifname=eth0,type=vlan,link=eth1,vlan=5000", "1-4094"),
        ("ifname=eth0,mac=01:00:00:00:00:01", "multicast"),
        ("ifname=eth0,mode=bridge", "mode= is for macvlan"),
        ("ifname=eth0,type=macvlan,link=e1,bridge=br0", "are for veth"),
        ("ifname=eth0,nat=yes", "give bridge="),
        ("ifname=this-name-is-too-long", "interface name"),
        ("type=veth", "ifname is missing"),
        ("ifname=eth0,colour=blue", "KEY=VALUE"),
        ("ifname=eth0,ip=198.18.0.300/24", "IP address"),
    ],
)
def test_bad_netifs_say_why(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_netif(text)


def test_netif_list_refuses_duplicates_and_reserved_names():
    with pytest.raises(ValueError, match="defined twice"):
        parse_netifs(["ifname=eth0", "ifname=eth0,bridge=br1"])
    with pytest.raises(ValueError, match="venet0"):
        parse_netifs(["ifname=venet0"])


def test_addresses_are_normalised_and_deduplicated():
    got = parse_addresses("198.18.1.1, 2001:db8:0::1 198.18.1.1")
    assert got == (ip_address("198.18.1.1"), ip_address("2001:db8::1"))
    assert render_addresses(got) == ["198.18.1.1", "2001:db8::1"]
    with pytest.raises(ValueError):
        parse_addresses("198.18.1.1/32")


@pytest.mark.parametrize("good", ["tcp:8080:80", "udp:53:53:198.18.0.2"])
def test_forwards(good):
    assert parse_forward(good) == good
    assert forward(good).to_text() == good
    assert render_forwards(parse_forwards(good)) == [good]


def test_forwards_as_typed_values():
    assert forward("tcp:8080:80") == Forward("tcp", 8080, 80, None)
    assert forward("udp:53:53:2001:db8::5") == Forward("udp", 53, 53, ip_address("2001:db8::5"))


@pytest.mark.parametrize("bad", ["tcp:0:80", "sctp:1:2", "tcp:8080", "tcp:1:70000"])
def test_bad_forwards(bad):
    with pytest.raises(ValueError):
        parse_forward(bad)
    with pytest.raises(ValueError):
        forward(bad)


def test_made_up_names_and_macs_are_stable_and_short():
    a = stable_mac("/", "101", "eth0")
    assert a == stable_mac("/", "101", "eth0") != stable_mac("/", "102", "eth0")
    assert int(a[:2], 16) & 0b11 == 0b10  # locally administered, unicast
    assert host_name("veth", "101", 0) == "veth101.0"
    long = host_name("veth", "a-very-long-container-name", 3)
    assert len(long) <= 15 and long.endswith(".3")
    assert host_name("vn", "101", None, "/tmp/other") != host_name("vn", "101", None, "/")
