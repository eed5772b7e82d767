"""hutchd: containers outlive it, it re-adopts them, its socket is root's, it leaks nothing."""

from __future__ import annotations

import os
import signal
import stat

import pytest

pytestmark = pytest.mark.root


def test_socket_is_root_only(hutch):
    hutch.running()
    st = os.stat(hutch.paths.socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (0, 0)
    pid = hutch.daemon_pid()
    assert pid is not None
    assert int(hutch.paths.daemon_pidfile.read_text()) == pid


def test_containers_survive_kill_9_of_hutchd_and_are_readopted(hutch):
    ctid = hutch.running(hostname="survivor.example")
    init = hutch.init_pid(ctid)
    daemon = hutch.daemon_pid()
    assert init is not None and daemon is not None
    os.kill(daemon, signal.SIGKILL)
    assert hutch.wait_exit(daemon, 5)
    assert hutch.daemon_pid() is None

    # the container runs on, and the verbs that go straight to the kernel still work
    assert hutch.init_pid(ctid) == init
    assert hutch.ok("exec", ctid, "hostname").stdout == "survivor.example\n"
    assert hutch.ok("exec", ctid, "true").returncode == 0
    assert hutch.status(ctid) == "running"
    assert hutch.daemon_pid() is None, "exec/status must not need hutchd"

    # the next lifecycle verb starts a new hutchd, which adopts the container and stops it
    out = hutch.json("stop", ctid)
    assert (out["status"], out["shutdown"]) == ("stopped", "clean")
    new_daemon = hutch.daemon_pid()
    assert new_daemon not in (None, daemon)
    assert hutch.init_pid(ctid) is None
    assert hutch.status(ctid) == "stopped"
    # nothing of the container is left behind
    assert hutch.cgroup_dirs(ctid) == []  # removed before `stop` returns
    assert hutch.state(ctid) is None
    assert not hutch.processes(ctid)
    assert "adopted" in hutch.paths.daemon_log.read_text()


def test_readopted_container_keeps_a_console_and_can_start_again(hutch):
    ctid = hutch.running()
    os.kill(hutch.daemon_pid(), signal.SIGKILL)
    hutch.wait_until(lambda: hutch.daemon_pid() is None, 5, "hutchd to die")
    # with nobody holding the console's master, writing to it is an I/O error
    p = hutch.run("exec", ctid, "echo LOST > /dev/console")
    assert p.returncode == 1 and "Input/output error" in p.stderr
    # a new hutchd (started by a verb) re-adopts and gives the container a new console
    assert "already running" in hutch.fails("start", ctid, code=6)
    hutch.ok("exec", ctid, "echo AGAIN-$((20+22)) > /dev/console")
    log = hutch.paths.ct_console_log(ctid)
    hutch.wait_until(lambda: "AGAIN-42" in log.read_text(errors="replace"), 3, "console output")
    assert "LOST" not in log.read_text(errors="replace")
    hutch.ok("stop", "--kill", ctid)
    hutch.start(ctid)
    assert hutch.status(ctid) == "running"


def _daemon_children(hutch, pid: int) -> list[str]:
    kids = []
    for p in hutch.all_procs().values():
        if p.ppid == pid:
            kids.append(f"{p.pid} [{p.state}]")
    return kids


def _fds(pid: int) -> dict[str, str]:
    fds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass
    return fds


def test_hutchd_leaks_no_fd_zombie_or_cgroup(hutch):
    def cycle() -> str:
        ctid = hutch.create()
        hutch.start(ctid)
        hutch.ok("exec", ctid, "true")
        hutch.ok("status", ctid)
        hutch.ok("stop", "--timeout", "0", ctid)
        hutch.ok("destroy", ctid)
        return ctid

    cycle()  # the daemon runs and has served a full cycle once
    daemon = hutch.daemon_pid()
    before = _fds(daemon)
    for _ in range(2):
        ctid = cycle()
        assert not hutch.cgroup_dirs(ctid)
    assert hutch.daemon_pid() == daemon
    after = _fds(daemon)
    assert len(after) == len(before), f"before: {before}\nafter: {after}"
    assert _daemon_children(hutch, daemon) == []
    # no thread either has children (zombies would be listed here until reaped)
    for task in os.listdir(f"/proc/{daemon}/task"):
        with open(f"/proc/{daemon}/task/{task}/children") as f:
            assert f.read().split() == []
    assert hutch.cgroup_dirs() == [], "the root's cgroup subtree goes with its last container"


def test_daemon_sigterm_lets_containers_run(hutch):
    ctid = hutch.running()
    init = hutch.init_pid(ctid)
    daemon = hutch.daemon_pid()
    os.kill(daemon, signal.SIGTERM)
    assert hutch.wait_exit(daemon, 5)
    assert not hutch.paths.socket.exists()
    assert not hutch.paths.daemon_pidfile.exists()
    assert hutch.init_pid(ctid) == init
    hutch.ok("stop", ctid, "--kill")
    assert hutch.init_pid(ctid) is None
