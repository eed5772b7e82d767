"""What `hutch set` asks for, as whole values (hutch.container.settings), and the record of
what a running container runs with (hutch.container.runrecord): no kernel, no root."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from hutch.config import KEY_BY_NAME, ContainerConfig
from hutch.config.netspec import forward, ip_address, parse_netif
from hutch.config.schema import accepted
from hutch.config.values import Pair
from hutch.container import runrecord
from hutch.container.checkpoint import META, dumped_settings
from hutch.container.live import SetResult
from hutch.container.settings import edited, names, refuse_fixed, same
from hutch.container.state import RunState, proc_starttime
from hutch.errors import StateConflict, UsageError
from hutch.paths import Paths

IPS = "network.ip_address"
M300 = Pair(300 << 20, 300 << 20)


def rendered(values: dict[str, object]) -> dict[str, object]:
    """Typed values by key name as their text (a list as a tuple), to compare with literals."""
    out = {}
    for name, value in values.items():
        text = KEY_BY_NAME[name].plain(value)
        out[name] = tuple(text) if isinstance(text, list) else text
    return out


def cfg(**values: object) -> ContainerConfig:
    return ContainerConfig.from_settings("5", {k.replace("__", "."): v for k, v in values.items()})


SAVED = cfg(hostname="saved.example", resources__memory="200M", network__ip_address=("198.18.1.1",))


def test_items_are_added_to_what_runs_not_to_the_file():
    running = SAVED.with_changes(accepted({IPS: ("198.18.1.1", "198.18.1.5")}))
    out = edited(running, SAVED, {}, {IPS: ["198.18.1.6"]}, {}, save=False)
    assert rendered(out) == {IPS: ("198.18.1.1", "198.18.1.5", "198.18.1.6")}
    # removals first, then additions; "all" empties the list
    out = edited(running, SAVED, {}, {IPS: ["198.18.1.7"]}, {IPS: ["198.18.1.1"]}, save=False)
    assert rendered(out) == {IPS: ("198.18.1.5", "198.18.1.7")}
    assert edited(running, SAVED, {}, {}, {IPS: ["all"]}, save=False) == {IPS: ()}


def test_a_whole_value_given_with_items_is_edited_after():
    out = edited(SAVED, SAVED, {IPS: ("198.18.1.9",)}, {IPS: ["198.18.1.10"]}, {}, save=True)
    assert rendered(out) == {IPS: ("198.18.1.9", "198.18.1.10")}


def test_an_item_there_or_missing_is_refused():
    running = SAVED.with_changes(accepted({IPS: ("198.18.1.1", "198.18.1.5")}))
    with pytest.raises(UsageError, match=re.escape("--ipadd 198.18.1.5: already there")):
        edited(running, SAVED, {}, {IPS: ["198.18.1.5"]}, {}, save=False)
    with pytest.raises(UsageError, match=re.escape("--ipdel 198.18.1.8: no such item")):
        edited(running, SAVED, {}, {}, {IPS: ["198.18.1.8"]}, save=False)
    with pytest.raises(UsageError, match="already there"):  # in the file and running
        edited(running, SAVED, {}, {IPS: ["198.18.1.1"]}, {}, save=True)


def test_with_save_a_live_only_item_may_be_added_and_a_saved_only_one_removed():
    running = SAVED.with_changes(accepted({IPS: ("198.18.1.5",)}))
    out = edited(running, SAVED, {}, {IPS: ["198.18.1.5", "198.18.1.6"]}, {}, save=True)
    assert rendered(out) == {IPS: ("198.18.1.5", "198.18.1.6")}  # .5 gets saved, not added twice
    out = edited(running, SAVED, {}, {}, {IPS: ["198.18.1.1"]}, save=True)
    assert rendered(out) == {IPS: ("198.18.1.5",)}  # .1 leaves the file
    with pytest.raises(UsageError, match="no such item"):
        edited(running, SAVED, {}, {}, {IPS: ["198.18.1.1"]}, save=False)


def test_interfaces_and_forwards_are_named_by_their_key():
    base = cfg(network__netif=("ifname=eth0,bridge=br0",), network__forward=("tcp:8080:80",))
    with pytest.raises(UsageError, match="already there"):
        edited(base, base, {}, {"network.netif": ["ifname=eth0,bridge=br1"]}, {}, save=False)
    out = edited(
        base, base, {}, {}, {"network.netif": ["eth0"], "network.forward": ["tcp:8080"]}, False
    )
    assert rendered(out) == {"network.netif": (), "network.forward": ()}
    eth0 = parse_netif("ifname=eth0,bridge=br0")
    assert names(eth0, "eth0") and not names(parse_netif("ifname=eth01"), "eth0")
    assert names(eth0, "ifname=eth0,type=veth,bridge=br0")  # the whole of it
    assert same(eth0, parse_netif("ifname=eth0,bridge=br1"))
    assert not same(ip_address("198.18.1.1"), ip_address("198.18.1.2"))
    http = forward("tcp:8080:80:198.18.1.1")
    assert names(http, "tcp:8080") and names(http, "tcp:8080:80") and not names(http, "tcp:80")
    assert names(ip_address("2001:db8::a"), "2001:DB8::A") and not names(
        ip_address("2001::1"), "2001"
    )


def test_items_of_a_key_that_is_no_list_are_refused():
    with pytest.raises(UsageError, match=re.escape("resources.memory: not a list setting")):
        edited(SAVED, SAVED, {}, {"resources.memory": ["1G"]}, {}, save=False)
    with pytest.raises(UsageError, match="--ipadd: 'nonsense' is not an IP address"):
        edited(SAVED, SAVED, {}, {IPS: ["nonsense"]}, {}, save=False)


def test_keys_fixed_at_create_are_refused_only_when_they_change():
    refuse_fixed(SAVED, {"security.idmap": SAVED.security_idmap})
    with pytest.raises(UsageError, match="chosen at create"):
        refuse_fixed(SAVED, {"security.privileged": True})


# -- the record ------------------------------------------------------------------------


def this_run(tmp_path: Path) -> tuple[Paths, RunState]:
    """A run state naming this test process (alive, with a start time), in a temp root."""
    starttime = proc_starttime(os.getpid())
    assert starttime is not None
    return Paths(tmp_path), RunState("5", os.getpid(), starttime, 0.0)


def test_the_record_gives_back_what_was_recorded(tmp_path):
    paths, st = this_run(tmp_path)
    assert runrecord.read(paths, st, SAVED) is None  # none yet: the caller uses the file
    live = SAVED.with_changes(
        accepted(
            {"resources.memory": "300M", "resources.cpus": 1, IPS: ("198.18.1.1", "198.18.1.5")}
        )
    )
    runrecord.save(paths, st, live)
    assert runrecord.read(paths, st, SAVED) == live
    data = json.loads(paths.ct_settings("5").read_text())
    assert (data["ctid"], data["pid"], data["starttime"]) == ("5", st.pid, st.starttime)
    assert data["settings"][IPS] == ["198.18.1.1", "198.18.1.5"]
    assert data["settings"]["hostname"] == "saved.example"
    assert paths.ct_settings("5").stat().st_mode & 0o077 == 0
    # the scans of the state directory skip it (a dot in the ID's place)
    assert "." in paths.ct_settings("5").name.removesuffix(".json")
    RunState.remove(paths, "5")
    assert not paths.ct_settings("5").exists()


def test_successive_records_build_on_each_other(tmp_path):
    paths, st = this_run(tmp_path)
    for change in ({"resources.memory": "300M"}, {"resources.cpus": 1}, {"hostname": "l.example"}):
        now = runrecord.read(paths, st, SAVED) or SAVED
        runrecord.save(paths, st, now.with_changes(accepted(change)))
    got = runrecord.read(paths, st, SAVED)
    assert got is not None
    assert (got.resources_memory, got.resources_cpus, got.hostname) == (M300, 1, "l.example")


def test_a_record_of_another_run_is_not_this_ones(tmp_path):
    paths, st = this_run(tmp_path)
    runrecord.save(paths, st, SAVED.with_changes(accepted({"resources.memory": "300M"})))
    later = RunState("5", st.pid, st.starttime + 1, 0.0)
    assert runrecord.read(paths, later, SAVED) is None


def test_a_key_the_record_lacks_keeps_its_saved_value_and_a_bad_one_is_named(tmp_path):
    paths, st = this_run(tmp_path)
    path = paths.ct_settings("5")
    path.parent.mkdir(parents=True)
    record = {"ctid": "5", "pid": st.pid, "starttime": st.starttime}
    path.write_text(json.dumps({**record, "settings": {"resources.memory": "300M"}}))
    got = runrecord.read(paths, st, SAVED)
    assert got is not None and got.hostname == "saved.example" and got.resources_memory == M300
    for bad in ({"resources.memory": "lots"}, {"no.such": 1}):
        path.write_text(json.dumps({**record, "settings": bad}))
        with pytest.raises(StateConflict, match=re.escape(f"{path}: unreadable settings record")):
            runrecord.read(paths, st, SAVED)
    path.write_text("{")
    with pytest.raises(StateConflict, match="hutch restart 5"):
        runrecord.read(paths, st, SAVED)


def test_a_checkpoint_restores_with_what_was_dumped_but_the_ids_of_the_file(tmp_path):
    live = SAVED.with_changes(
        accepted({"resources.memory": "300M", "security.idmap_base": 1 << 20})
    )
    meta = {"settings": runrecord.settings_json(live)}
    saved = SAVED.with_changes(accepted({"security.idmap_base": 2 << 20}))
    got = dumped_settings(saved, meta, tmp_path)
    assert got.resources_memory == M300 and got.security_idmap_base == 2 << 20
    assert dumped_settings(saved, {}, tmp_path) == saved  # dumped by an older hutch
    with pytest.raises(StateConflict, match=META):
        dumped_settings(saved, {"settings": []}, tmp_path)


def test_set_result_crosses_the_wire_unchanged():
    r = SetResult(applied=("resources.memory",), warnings=("w",), saved=True, grown=False)
    assert SetResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r
