"""The network record (hutch.network.spec.NetRecord) as the run state file keeps it, the
plan's JSON, and the one interface of the network modes, without root."""

from __future__ import annotations

import json
import sys
from ipaddress import ip_address, ip_interface
from pathlib import Path

from hutch.config import ContainerConfig
from hutch.container.netplan import network_plan
from hutch.container.state import RunState
from hutch.network import modes
from hutch.network.spec import NetifPlan, NetRecord
from hutch.paths import Paths

NETIF = "ifname=eth0,bridge=br0,ip=198.18.3.2/24,gateway=198.18.3.1,nat=yes"

# what an older hutch wrote into /run/hutch/containers/ID.json under "net"
OLD = {
    "host_ifs": ["veth101.0", "vn101"],
    "proxies": [["198.18.9.1", 2]],
    "bridges": ["br0"],
    "netdevs": [],
    "specs": {
        "eth0": {
            "ifname": "eth0",
            "type": "veth",
            "mac": "02:00:5e:12:00:0a",
            "host_ifname": "veth101.0",
            "host_mac": "02:00:5e:12:00:0b",
            "bridge": "br0",
            "link": None,
            "mode": "bridge",
            "vlan": None,
            "ip": ["198.18.3.2/24"],
            "gateway": ["198.18.3.1"],
            "mtu": None,
            "nat": True,
        }
    },
    "inner_macs": {},
    "nft": "hutch",
    "portfilter": "hutch_ct_101",
}


def test_an_old_record_loads_and_keeps_its_shape():
    rec = NetRecord.from_json(OLD)
    assert rec.host_ifs == ("veth101.0", "vn101") and rec.proxies == (("198.18.9.1", 2),)
    assert rec.nft == "hutch" and rec.portfilter == "hutch_ct_101" and rec.holds_links
    (spec,) = rec.specs or ()
    assert spec.ip == (ip_interface("198.18.3.2/24"),)
    assert spec.gateway == (ip_address("198.18.3.1"),)
    assert rec.to_json() == OLD
    assert NetRecord.from_json(json.loads(json.dumps(rec.to_json()))) == rec


def test_an_empty_or_nat_only_record():
    assert NetRecord.from_json({}) == NetRecord() and not NetRecord().holds_links
    only_nat = NetRecord.from_json({"nft": "hutch"})
    assert only_nat.specs is None and only_nat.to_json()["nft"] == "hutch"
    assert "specs" not in only_nat.to_json()
    assert only_nat.with_tables(nft=None).nft is None


def test_the_plans_interfaces_round_trip_as_specs():
    plan = network_plan(ContainerConfig.from_settings("101", {"network.netif": (NETIF,)}), "/")
    (n,) = plan.netifs
    assert NetifPlan.from_json(json.loads(json.dumps(n.to_json()))) == n


def test_run_state_keeps_an_old_net_and_converts_on_first_read(tmp_path: Path):
    paths = Paths(tmp_path)
    st = RunState("101", 1, 1, 0.0, net=OLD)
    st.save(paths)
    data = json.loads(paths.ct_state("101").read_text())
    assert data["net"] == OLD
    loaded = RunState(**data)
    assert isinstance(loaded.net, NetRecord) and loaded.net == NetRecord.from_json(OLD)
    loaded.net = loaded.net.with_tables(portfilter=None)
    assert "portfilter" not in loaded.to_dict()["net"]
    assert RunState("102", 1, 1, 0.0).net == NetRecord()


def test_reading_a_run_state_does_not_import_the_network_types():
    import subprocess

    saved = json.dumps(RunState("1", 1, 1, 0.0, net=OLD).to_dict())
    code = (
        "import sys, json; from hutch.container.state import RunState; "
        f"st = RunState(**json.loads({saved!r})); "
        "st.to_dict(); print('hutch.network.spec' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "False", r.stderr


def test_every_mode_has_the_one_interface():
    functions = ("host_side", "inside", "adopt", "refusal", "host_end", "port")
    for mode in (*modes.LINKS.values(), modes.venet, modes.phys):
        for name in functions:
            assert callable(getattr(mode, name)), (mode.NAME, name)
    for mode in modes.LINKS.values():
        assert callable(mode.check)
    assert modes.own_netns("private") and not modes.own_netns("host")


def test_what_a_checkpoint_refuses_comes_from_the_modes():
    from hutch.network.setup import host_ends, refusals

    cfg = ContainerConfig.from_settings(
        "101",
        {
            "network.netif": (NETIF, "ifname=eth1,type=macvlan,link=up0"),
            "network.ip_address": ("198.18.9.1",),
            "network.netdev": ("dummy7",),
        },
    )
    plan = network_plan(cfg, "/")
    assert refusals(plan) == [
        "container 101: a macvlan interface (eth1) cannot be checkpointed; veth, venet and "
        "containers without a network can",
        "container 101: a host NIC lent with --netdev_add cannot be checkpointed",
    ]
    assert host_ends(plan) == [("eth0", "veth101.0"), ("venet0", "vn101")]
