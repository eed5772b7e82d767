"""Every key's value is typed once at the edge and rendered back to its canonical text where
it leaves (config.toml, `hutch config`, the run record, the daemon's wire): the text reads
back to the same value, for every key of the registry."""

from __future__ import annotations

import json
import re
from ipaddress import ip_address, ip_interface
from pathlib import Path

import pytest

from hutch.config import KEY_BY_NAME, KEYS, ContainerConfig, load, render_new, save_changes, units
from hutch.config.resource_keys import UBC
from hutch.config.schema import accepted, rendered
from hutch.config.values import IoRate, Pair
from hutch.container import runrecord
from hutch.network.spec import Forward, Netif

M = 1 << 20

# sample values per key, typed as ContainerConfig holds them (several for some)
SAMPLES: dict[str, list[object]] = {
    "hostname": ["web1.example.com"],
    "template": ["debian-12-amd64"],
    "init": [("/sbin/init", "splash")],
    "stop_signal": ["SIGRTMIN+3", "SIGTERM"],
    "stop_timeout": [120, 0],
    "onboot": [True, False],
    "description": ["mail relay"],
    "environment": [("TZ=UTC", "LANG=C.UTF-8")],
    "resources.memory": [Pair(256 * M, 512 * M), Pair(512 * M, 512 * M), Pair(None, None)],
    "resources.swap": [1 << 30, 0, 1536 * M, 4096 + 1],
    "resources.cpuunits": [3000],
    "resources.cpulimit": [150, 0],
    "resources.cpus": [2],
    "resources.cpuset": ["0-1,3"],
    "resources.numproc": [Pair(300, 300), Pair(200, None)],
    "resources.ioprio": [6],
    "resources.iolimit": [(IoRate("sda", 10 * M, 5 * M), IoRate("8:16", M, M))],
    "resources.iopslimit": [(IoRate("/dev/vda", 500, 200), IoRate("vdb", None, 10))],
    "network.mode": ["host", "private"],
    "network.ip_address": [(ip_address("198.18.1.10"), ip_address("2001:db8::a"))],
    "network.nameserver": [(ip_address("198.18.0.1"),)],
    "network.searchdomain": [("example.com",)],
    "network.netif": [
        (
            Netif(
                "eth0",
                bridge="br0",
                mac="02:00:00:aa:bb:cc",
                ip=(ip_interface("198.18.2.10/24"), ip_interface("2001:db8::2/64")),
                gateway=(ip_address("198.18.2.1"),),
                nat=True,
                mtu=1400,
            ),
            Netif("eth1", type="macvlan", link="up0", mode="bridge"),
            Netif("eth2", type="vlan", link="up0", vlan=42),
        )
    ],
    "network.netdev": [("eth1",)],
    "network.forward": [
        (Forward("tcp", 8080, 80), Forward("udp", 53, 5353, ip_address("2001:db8::5")))
    ],
    "network.allow_spoof": [("router", "mac")],
    "storage.backend": ["overlay"],
    "storage.diskspace": ["1G:2G"],  # still text (hutch.storage's own keys)
    "storage.diskinodes": ["200000:220000"],
    "security.devices": [("fuse", "tun")],
    "security.cap_drop": [("CAP_NET_RAW",)],
    "security.cap_keep": [("CAP_SYS_TIME",)],
    "security.seccomp": ["unconfined"],
    "security.seccomp_deny": [("ptrace",)],
    "security.privileged": [True],
    "security.idmap": ["isolated"],
    "security.idmap_base": [1000000],
} | {
    f"ubc.{name}": [Pair(M, 2 * M), Pair(None, 4 * M)]
    if unit == "bytes"
    else [Pair(1000, 1100), Pair(None, 100000), Pair(5, 5)]
    for name, unit, _ in UBC
}

CASES = [(name, v) for name, values in SAMPLES.items() for v in values]


def test_every_key_has_samples():
    assert set(SAMPLES) == set(KEY_BY_NAME)


def _plain(value: object) -> bool:
    """A value TOML and JSON hold as they are: text, numbers, booleans, arrays of text."""
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    return isinstance(value, (str, int, bool))


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v!r}"[:60] for n, v in CASES])
def test_render_then_check_gives_the_value_back(name, value):
    key = KEY_BY_NAME[name]
    text = key.render(value)
    assert key.check(text) == value
    assert _plain(text), text
    assert key.check(json.loads(json.dumps(text))) == value  # through the run record
    if isinstance(text, str):
        assert key.parse(text) == value  # the command line's form
    if key.add_flag:  # each item as --KEY_add takes it
        assert tuple(v for item in text for v in key.parse(item)) == value
    # the library edge takes the typed value, its TOML form and its text alike
    assert key.accept(value) == key.accept(text) == value


def test_the_canonical_text_of_sizes_pairs_and_rules():
    mem = KEY_BY_NAME["resources.memory"]
    assert mem.render(units.size_pair("256M:512M")) == "256M:512M"
    assert mem.render(units.size_pair("512m")) == "512M"  # one value: both
    assert mem.render(units.size_pair("1.5G")) == "1536M"  # the largest exact unit
    assert mem.render(units.size_pair("unlimited:1G")) == "unlimited:1G"
    assert KEY_BY_NAME["resources.swap"].parse("64KiB") == 64 << 10
    assert KEY_BY_NAME["resources.swap"].parse("unlimited") is None  # as unset: no cap
    assert KEY_BY_NAME["ubc.numfile"].render(units.count_pair("2048")) == "2048"
    assert KEY_BY_NAME["ubc.kmemsize"].render(Pair(27525120, 29360120)) == "26880K:29360120"
    rules = KEY_BY_NAME["resources.iolimit"].parse("sda=10M:5M, 8:16=1M")
    assert rules == (IoRate("sda", 10 * M, 5 * M), IoRate("8:16", M, M))
    assert KEY_BY_NAME["resources.iolimit"].render(rules) == ["sda=10M:5M", "8:16=1M"]


def test_a_bad_typed_value_is_refused_as_its_text_would_be():
    with pytest.raises(ValueError, match="barrier is above the limit"):
        KEY_BY_NAME["resources.memory"].accept(Pair(2 * M, M))
    with pytest.raises(ValueError, match="venet0"):
        KEY_BY_NAME["network.netif"].accept((Netif("venet0"),))
    with pytest.raises(ValueError, match="port 0"):
        KEY_BY_NAME["network.forward"].accept((Forward("tcp", 0, 80),))


def full_config() -> ContainerConfig:
    return ContainerConfig.from_values("101", {name: values[0] for name, values in SAMPLES.items()})


def test_a_whole_config_round_trips_through_its_file_and_the_record(tmp_path: Path):
    cfg = full_config()
    path = tmp_path / "config.toml"
    path.write_text(render_new("101", cfg.values()))
    assert load(path, "101") == cfg
    assert ContainerConfig.from_settings("101", runrecord.settings_json(cfg)) == cfg
    assert ContainerConfig.from_settings("101", rendered(cfg.values())) == cfg
    assert json.loads(json.dumps(cfg.to_dict()))["resources.memory"] == "256M:512M"
    # a typed change written to the file reads back typed
    bigger = Pair(300 * M, 600 * M)
    save_changes(path, {"resources.memory": bigger, "network.forward": ()})
    assert 'memory = "300M:600M"' in path.read_text()
    assert load(path, "101") == cfg.with_changes(
        {"resources.memory": bigger, "network.forward": ()}
    )


def test_settings_in_any_form_make_the_same_config():
    typed = {
        "resources.memory": Pair(300 * M, 300 * M),
        "network.ip_address": (ip_address("198.18.1.5"),),
    }
    as_text = {"resources.memory": "300M", "network.ip_address": "198.18.1.5"}
    as_toml = {"resources.memory": "300M", "network.ip_address": ["198.18.1.5"]}
    assert accepted(typed) == accepted(as_text) == accepted(as_toml) == typed
    with pytest.raises(ValueError, match=re.escape("resources.memory: ")):
        accepted({"resources.memory": "lots"})
    with pytest.raises(KeyError, match=re.escape("no.such")):
        accepted({"no.such": 1})


def test_each_key_renders_its_default():
    for key in KEYS:
        if key.default is not None:
            assert key.check(key.render(key.default)) == key.default, key.name
