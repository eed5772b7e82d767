"""The settings a running container runs with (issue 13 part 1): live `hutch set`s build on
each other, `hutch config` shows them against the saved file, a restart goes back to the
file, a checkpoint and restore keep them — with hutchd and without it.

Every value is read from the kernel: the memory limit from the container's cgroup, the
addresses from its venet0, the host name from inside. The CLI and hutchd run in a network
namespace of the module's (venet routes and proxies go there, not into the host's).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from netns import HostNetns, ct_addrs, ct_link  # tests/integration/netns.py
from test_res_limits import groups, memory_limit

from hutch.criu import readiness

pytestmark = pytest.mark.root

M = 1 << 20


@pytest.fixture(scope="module")
def host_netns(hutch_root) -> Iterator[HostNetns]:
    ns = HostNetns.create(f"hutch-rr{os.getpid()}")
    ns.attach(hutch_root)
    try:
        yield ns
    finally:
        problems = hutch_root.remove_containers(hutch_root.container_ids())
        problems += hutch_root.stop_daemon()
        problems += ns.close()
    if problems:
        pytest.fail("test host not clean:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture(params=["hutchd", "without-hutchd"])
def h(request, hutch, host_netns):
    """The module's hutch in the namespace; `without-hutchd`: its hutchd is stopped (by the
    PID in its pid file) once the test's container runs, so `set` goes to the kernel itself."""
    hutch.without_daemon = request.param == "without-hutchd"
    yield hutch
    for ctid in hutch.container_ids():  # the run records go with the run states
        if hutch.init_pid(ctid) is None:
            assert not hutch.paths.ct_settings(ctid).exists(), ctid


def started(h, **saved: str) -> str:
    ctid = h.create(hostname=saved.pop("hostname", None))
    if saved:
        h.ok("set", ctid, *[a for k, v in saved.items() for a in (f"--{k}", v)], "--save")
    h.start(ctid)
    if h.without_daemon:
        assert h.stop_daemon() == []
        assert h.daemon_pid() is None
    return ctid


def venet(h, ctid: str) -> list[str]:
    pid = h.init_pid(ctid)
    assert pid is not None, f"container {ctid} is not running"
    if ct_link(pid, "venet0") is None:
        return []
    return sorted(a.removesuffix("/32") for a in ct_addrs(pid, "venet0"))


def hostname(h, ctid: str) -> str:
    return h.ok("exec", ctid, "hostname").stdout.strip()


def test_live_changes_accumulate_and_a_restart_brings_back_the_saved(h):
    ctid = started(h, hostname="saved.example")
    cfg_file = h.paths.ct_config(ctid)
    text = cfg_file.read_text()
    # the four commands
    h.ok("set", ctid, "--memory", "300M")
    assert memory_limit(groups(h, ctid)) == 300 * M
    h.ok("set", ctid, "--cpus", "1")
    assert memory_limit(groups(h, ctid)) == 300 * M  # not back to unlimited
    h.ok("set", ctid, "--ipadd", "198.18.60.5")
    h.ok("set", ctid, "--ipadd", "198.18.60.6")
    assert venet(h, ctid) == ["198.18.60.5", "198.18.60.6"]  # .5 still there
    h.ok("set", ctid, "--hostname", "live.example")
    assert hostname(h, ctid) == "live.example"
    assert memory_limit(groups(h, ctid)) == 300 * M and len(venet(h, ctid)) == 2
    # an item list edit builds on what runs too
    h.ok("set", ctid, "--ipdel", "198.18.60.5")
    assert venet(h, ctid) == ["198.18.60.6"]
    h.ok("set", ctid, "--ipadd", "198.18.60.5")
    assert cfg_file.read_text() == text  # nothing saved
    assert (h.daemon_pid() is None) == h.without_daemon  # set started no hutchd
    if not h.without_daemon:  # the one writer did it
        assert f"{ctid}: applied resources.memory" in h.paths.daemon_log.read_text()

    # hutch config: what runs, the differences marked; --saved: the file
    cfg = h.json("config", ctid)
    assert (cfg["resources.memory"], cfg["resources.cpus"]) == ("300M", 1)
    assert cfg["network.ip_address"] == ["198.18.60.6", "198.18.60.5"]
    assert cfg["hostname"] == "live.example"
    assert sorted(cfg["unsaved"]) == [
        "hostname",
        "network.ip_address",
        "resources.cpus",
        "resources.memory",
    ]
    lines = h.ok("config", ctid).stdout.splitlines()
    assert str(cfg_file) in lines[0] and "4 unsaved" in lines[1]
    assert 'resources.memory = "300M"  # live, saved: null' in lines
    assert 'hostname = "live.example"  # live, saved: "saved.example"' in lines
    assert "onboot = false" in lines  # the same in both: unmarked
    saved = h.json("config", ctid, "--saved")
    assert (saved["resources.memory"], saved["network.ip_address"]) == (None, [])
    assert saved["hostname"] == "saved.example" and "unsaved" not in saved
    assert "# live" not in h.ok("config", ctid, "--saved").stdout

    # a restart starts from config.toml again
    h.ok("restart", "--timeout", "0", ctid)
    assert memory_limit(groups(h, ctid)) is None
    assert venet(h, ctid) == []
    assert hostname(h, ctid) == "saved.example"
    assert h.json("config", ctid)["unsaved"] == []
    assert h.json("config", ctid)["resources.memory"] is None


def test_save_writes_the_named_keys_and_keeps_the_live_ones(h):
    ctid = started(h, hostname="saved.example", memory="200M")
    cfg_file = h.paths.ct_config(ctid)
    cfg_file.write_text("# my note\n" + cfg_file.read_text())
    h.ok("set", ctid, "--memory", "300M")
    h.ok("set", ctid, "--ipadd", "198.18.60.7")
    # --save writes the key named (its value as it runs, with the new item): the live
    # memory limit stays live only
    h.ok("set", ctid, "--ipadd", "198.18.60.8", "--save")
    assert venet(h, ctid) == ["198.18.60.7", "198.18.60.8"]
    text = cfg_file.read_text()
    assert text.startswith("# my note\n") and 'memory = "200M"' in text
    assert h.json("config", ctid, "--saved")["network.ip_address"] == [
        "198.18.60.7",
        "198.18.60.8",
    ]
    assert h.json("config", ctid)["unsaved"] == ["resources.memory"]
    # an item already running but not saved may be added with --save (it gets saved)
    h.ok("set", ctid, "--hostname", "live.example")
    h.ok("set", ctid, "--hostname", "live.example", "--save")
    assert h.json("config", ctid)["unsaved"] == ["resources.memory"]
    assert "already there" in h.fails("set", ctid, "--ipadd", "198.18.60.7")
    h.ok("restart", "--timeout", "0", ctid)
    assert memory_limit(groups(h, ctid)) == 200 * M
    assert venet(h, ctid) == ["198.18.60.7", "198.18.60.8"]
    assert hostname(h, ctid) == "live.example"


def test_beancounters_show_the_live_limits(h):
    ctid = started(h, numproc="100")
    h.ok("set", ctid, "--numproc", "150")
    row = h.json("beancounters", ctid)[ctid]["numproc"]
    assert row["limit"] == 150, row


def test_checkpoint_and_restore_keep_the_live_settings(h):
    r = readiness.probe()
    if not r.usable:
        pytest.skip(f"criu is not usable here: {r.problems}")
    if h.without_daemon:
        # checkpoint is hutchd's; one of a container it re-adopted (its console replaced)
        # is refused by CRIU, with or without live settings
        pytest.skip("a checkpoint of a re-adopted container: not supported yet")
    ctid = started(h, hostname="saved.example")
    h.ok("set", ctid, "--memory", "300M")
    h.ok("set", ctid, "--ipadd", "198.18.60.9")
    h.ok("set", ctid, "--hostname", "live.example")
    h.ok("checkpoint", ctid)
    assert not h.paths.ct_settings(ctid).exists()  # gone with the run
    h.ok("restore", ctid)
    assert memory_limit(groups(h, ctid)) == 300 * M
    assert venet(h, ctid) == ["198.18.60.9"]
    assert hostname(h, ctid) == "live.example"
    assert sorted(h.json("config", ctid)["unsaved"]) == [
        "hostname",
        "network.ip_address",
        "resources.memory",
    ]
    h.ok("stop", "--kill", ctid)
    assert not h.paths.ct_settings(ctid).exists()
