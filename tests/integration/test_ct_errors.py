"""Errors a user can cause: one line on stderr starting `hutch:`, a non-zero exit, no
traceback (every CLI call is checked for one), and nothing changed on the host."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root

BAD_IDS = ["../x", "a/b", "", "x" * 40, "-rf", ".hidden", "a..b"]

# every verb taking one ID, with what it needs after the ID
VERBS = {
    "create": [],
    "start": [],
    "stop": [],
    "restart": [],
    "destroy": [],
    "status": [],
    "exec": ["true"],
    "enter": [],
    "console": [],
    "set": ["--hostname", "x"],
    "config": [],
}


@pytest.fixture(scope="module")
def stopped(hutch_root) -> str:
    return hutch_root.create()


@pytest.fixture(scope="module")
def running(hutch_root) -> str:
    return hutch_root.running()


def _host_view(hutch) -> tuple[list[str], list[str], list]:
    cts = hutch.paths.containers
    return (
        sorted(os.listdir(cts)) if cts.is_dir() else [],
        sorted(os.listdir(hutch.paths.log)) if hutch.paths.log.is_dir() else [],
        hutch.cgroup_dirs(),
    )


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_invalid_id_is_refused_and_creates_nothing(hutch, bad):
    before = _host_view(hutch)
    msg = hutch.fails("create", "--", bad, code=2) if bad.startswith("-") else None
    if msg is None:
        msg = hutch.fails("create", bad, code=2)
    assert "container ID" in msg
    assert _host_view(hutch) == before
    assert not os.path.exists(hutch.paths.containers / bad) or bad == ""


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_invalid_id_for_every_verb(hutch, verb):
    hutch.fails(verb, "../x", *VERBS[verb], code=2)


@pytest.mark.parametrize("verb", sorted(set(VERBS) - {"create"}))
def test_unknown_container_for_every_verb(hutch, verb):
    before = _host_view(hutch)
    msg = hutch.fails(verb, "nosuch", *VERBS[verb], code=4)
    assert "nosuch" in msg and "does not exist" in msg
    assert _host_view(hutch)[0] == before[0]
    assert not hutch.cgroup_dirs("nosuch")


def test_create_twice(hutch):
    ctid = hutch.create(hostname="first.example")
    msg = hutch.fails("create", ctid, "--hostname", "second.example", code=5)
    assert "already exists" in msg
    assert hutch.json("config", ctid)["hostname"] == "first.example"


def test_start_a_running_one(hutch, running):
    ctid = running
    pid = hutch.init_pid(ctid)
    assert "already running" in hutch.fails("start", ctid, code=6)
    assert hutch.init_pid(ctid) == pid


@pytest.mark.parametrize("verb", ["exec", "enter", "stop", "console"])
def test_verbs_needing_a_running_one(hutch, stopped, verb):
    ctid = stopped
    assert "not running" in hutch.fails(verb, ctid, *VERBS[verb], code=6)
    assert not hutch.cgroup_dirs(ctid)


def test_destroy_running_needs_force(hutch):
    ctid = hutch.running()
    pid = hutch.init_pid(ctid)
    assert "running" in hutch.fails("destroy", ctid, code=6)
    assert hutch.init_pid(ctid) == pid
    assert hutch.paths.ct_dir(ctid).is_dir()
    assert hutch.ok("destroy", "--force", ctid).stdout == f"Container {ctid} destroyed\n"
    assert not hutch.paths.ct_dir(ctid).exists()
    assert not hutch.cgroup_dirs(ctid)
    assert hutch.init_pid(ctid) is None and hutch.state(ctid) is None
    assert not (hutch.paths.log / ctid).exists()
    assert "does not exist" in hutch.fails("status", ctid, code=4)


def test_exec_without_command(hutch, running):
    ctid = running
    assert "needs a command" in hutch.fails("exec", ctid, code=2)


def test_unknown_verb_and_missing_root_argument(hutch):
    assert "unknown verb" in hutch.fails("frobnicate", code=2)


# -- issue 12 item 9: host IDs and ssh targets -------------------------------------------------


def test_idmap_base_outside_roots_range_is_refused(hutch, tmp_path):
    # a --config file naming uid 1000 (a real user on many hosts) as the container's root
    cfg = tmp_path / "c.toml"
    cfg.write_text("[security]\nidmap_base = 1000\n")
    ctid = hutch.new_id()
    msg = hutch.fails("create", ctid, "--config", cfg, code=3)
    assert "idmap_base 1000" in msg and "/etc/subuid" in msg
    assert ctid not in hutch.container_ids()
    # a config.toml edited by hand: the start is refused, nothing is left running
    ctid = hutch.create()
    path = hutch.paths.ct_config(ctid)
    text = path.read_text()
    assert "idmap_base = " in text
    lines = [
        "idmap_base = 1000" if line.startswith("idmap_base = ") else line
        for line in text.splitlines()
    ]
    path.write_text("\n".join(lines) + "\n")
    msg = hutch.fails("start", ctid, code=3)
    assert "idmap_base 1000" in msg
    assert hutch.init_pid(ctid) is None and not hutch.cgroup_dirs(ctid)


@pytest.mark.parametrize(
    "target", ["-oProxyCommand=touch /tmp/hutch-pwned", "-F/tmp/x", "host name", "a\x1bb"]
)
def test_ssh_target_that_ssh_would_misread_is_refused(hutch, stopped, target):
    msg = hutch.fails("migrate", stopped, "--", target, code=2)
    assert "target" in msg
    assert not os.path.exists("/tmp/hutch-pwned")
    assert hutch.status(stopped) == "stopped"
