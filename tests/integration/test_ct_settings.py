"""hutch set: live changes, --save keeping the user's file, and what a restart keeps."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


def test_set_hostname_live_without_save(hutch):
    ctid = hutch.running(hostname="before.example")
    cfg_file = hutch.paths.ct_config(ctid)
    text = cfg_file.read_text()
    out = hutch.ok("set", ctid, "--hostname", "live.example").stdout
    assert "applied" in out and "saved" not in out
    assert hutch.ok("exec", ctid, "hostname").stdout == "live.example\n"
    assert cfg_file.read_text() == text  # not saved
    # config shows what runs, --saved the file (the next start's)
    assert hutch.json("config", ctid)["hostname"] == "live.example"
    assert hutch.json("config", ctid, "--saved")["hostname"] == "before.example"
    # the next start takes the saved configuration again
    hutch.ok("restart", "--timeout", "0", ctid)
    assert hutch.ok("exec", ctid, "hostname").stdout == "before.example\n"
    assert hutch.json("config", ctid)["hostname"] == "before.example"


def test_set_hostname_with_save_keeps_comments_and_survives_restart(hutch):
    ctid = hutch.running(hostname="before.example")
    cfg_file = hutch.paths.ct_config(ctid)
    cfg_file.write_text("# my own note, keep me\n" + cfg_file.read_text())
    hutch.ok("set", ctid, "--hostname", "saved.example", "--save")
    assert hutch.ok("exec", ctid, "hostname").stdout == "saved.example\n"
    text = cfg_file.read_text()
    assert text.startswith("# my own note, keep me\n")
    assert 'hostname = "saved.example"' in text and "before.example" not in text
    old_pid = hutch.init_pid(ctid)
    hutch.ok("restart", "--timeout", "0", ctid)
    assert hutch.init_pid(ctid) not in (None, old_pid)
    assert hutch.ok("exec", ctid, "hostname").stdout == "saved.example\n"
    assert hutch.ok("exec", ctid, "cat", "/etc/hostname").stdout == "saved.example\n"


def test_set_on_a_stopped_container_needs_save(hutch):
    ctid = hutch.create()
    assert "stopped" in hutch.fails("set", ctid, "--hostname", "x.example", code=6)
    hutch.ok("set", ctid, "--hostname", "later.example", "--save")
    hutch.start(ctid)
    assert hutch.ok("exec", ctid, "hostname").stdout == "later.example\n"


def test_set_a_key_that_cannot_apply_live(hutch):
    ctid = hutch.running()
    cfg_file = hutch.paths.ct_config(ctid)
    text = cfg_file.read_text()
    msg = hutch.fails("set", ctid, "--stop-timeout", "5")
    assert "--save" in msg
    assert cfg_file.read_text() == text
    hutch.ok("set", ctid, "--stop-timeout", "5", "--save")
    assert hutch.json("config", ctid)["stop_timeout"] == 5


def test_set_a_bad_value_changes_nothing(hutch):
    ctid = hutch.running(hostname="good.example")
    cfg_file = hutch.paths.ct_config(ctid)
    text = cfg_file.read_text()
    hutch.fails("set", ctid, "--hostname", "bad host!", "--save")
    assert cfg_file.read_text() == text
    assert hutch.ok("exec", ctid, "hostname").stdout == "good.example\n"
