"""stop (clean, killed, timed out), restart, and reboot/poweroff from inside the container."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.root


def _gone(hutch, ctid: str, old_pid: int) -> None:
    """The container is fully stopped: init dead, state and cgroups removed."""
    assert not hutch.alive(old_pid)
    assert hutch.init_pid(ctid) is None and hutch.state(ctid) is None
    assert hutch.cgroup_dirs(ctid) == []
    assert hutch.processes(ctid) == []


def test_clean_stop_goes_through_init(hutch):
    ctid = hutch.running()
    pid = hutch.init_pid(ctid)
    log = hutch.paths.ct_console_log(ctid)
    out = hutch.json("stop", ctid)
    assert (out["id"], out["status"], out["shutdown"]) == (ctid, "stopped", "clean")
    _gone(hutch, ctid, pid)
    # busybox init ran its shutdown sequence (printed on the console) rather than being killed
    assert "Requesting system poweroff" in log.read_text(errors="replace")
    assert hutch.status(ctid) == "stopped"


def test_stop_text_output(hutch):
    ctid = hutch.running()
    pid = hutch.init_pid(ctid)
    assert "timeout" in hutch.fails("stop", "--timeout", "-1", ctid, code=2)
    assert hutch.init_pid(ctid) == pid
    out = hutch.ok("stop", "--kill", ctid).stdout
    assert out == f"Stopping container {ctid} ...\nContainer {ctid} was stopped (killed)\n"


@pytest.mark.parametrize("how", [["--kill"], ["--timeout", "0"]])
def test_stop_kill_and_zero_timeout_kill_at_once(hutch, how):
    ctid = hutch.running()
    pid = hutch.init_pid(ctid)
    t0 = time.monotonic()
    out = hutch.json("stop", *how, ctid)
    assert out["shutdown"] == "killed"
    assert time.monotonic() - t0 < 5
    _gone(hutch, ctid, pid)
    log = hutch.paths.ct_console_log(ctid).read_text(errors="replace")
    assert "Requesting system poweroff" not in log


def test_stop_timeout_kills_an_init_that_ignores_the_signal(hutch):
    ctid = hutch.create()
    # SIGWINCH is ignored by busybox init: the clean stop cannot succeed
    hutch.ok("set", ctid, "--stop-signal", "SIGWINCH", "--save")
    hutch.start(ctid)
    pid = hutch.init_pid(ctid)
    t0 = time.monotonic()
    out = hutch.json("stop", "--timeout", "0.3", ctid)
    took = time.monotonic() - t0
    assert out["shutdown"] == "killed"
    assert took >= 0.3
    _gone(hutch, ctid, pid)


def test_restart_gives_a_new_init(hutch):
    ctid = hutch.running()
    pid = hutch.init_pid(ctid)
    out = hutch.ok("restart", "--timeout", "0", ctid).stdout
    new = hutch.init_pid(ctid)
    assert new not in (None, pid)
    assert f"init pid {new}" in out
    assert not hutch.alive(pid)
    assert hutch.ok("exec", ctid, "cat", "/proc/1/comm").stdout == "init\n"


def test_restart_of_a_stopped_one_starts_it(hutch):
    ctid = hutch.create()
    hutch.ok("restart", ctid)
    assert hutch.init_pid(ctid) is not None


def test_reboot_inside_restarts_the_container(hutch):
    ctid = hutch.running(hostname="rebooter.example")
    pid = hutch.init_pid(ctid)
    hutch.ok("exec", ctid, "reboot")
    new = hutch.wait_until(
        lambda: (p := hutch.init_pid(ctid)) not in (None, pid) and p,
        10,
        f"{ctid} to come back after reboot",
    )
    assert not hutch.alive(pid)
    assert hutch.status(ctid) == "running"
    assert hutch.ok("exec", ctid, "hostname").stdout == "rebooter.example\n"
    assert len(hutch.cgroup_dirs(ctid)) > 0
    assert (hutch.cgroup_dirs(ctid)[0] / "ct/cgroup.procs").read_text().split()[0] != str(pid)
    assert new == hutch.json("status", ctid)["pid"]


def test_poweroff_inside_stops_the_container(hutch):
    ctid = hutch.running()
    pid = hutch.init_pid(ctid)
    hutch.ok("exec", ctid, "poweroff")
    hutch.wait_until(lambda: hutch.status(ctid) == "stopped", 10, f"{ctid} to power off")
    hutch.wait_until(lambda: not hutch.cgroup_dirs(ctid), 3, f"the cgroups of {ctid} to go")
    _gone(hutch, ctid, pid)
    time.sleep(0.2)  # and it is not restarted behind our back
    assert hutch.status(ctid) == "stopped"


def test_destroy_refuses_while_the_cgroup_has_processes(hutch):
    # the state file is gone (a crashed host tool, a hand-cleaned /run), the container is not
    ctid = hutch.running()
    state = hutch.paths.ct_state(ctid)
    saved = state.read_bytes()
    state.unlink()
    try:
        err = hutch.fails("destroy", ctid, code=6)
        assert "is running" in err
        assert hutch.rootfs(ctid).is_dir()
    finally:
        state.write_bytes(saved)
