"""kill -9 at random points (issue 12 item 10): of hutchd during start and stop, of the CLI
during `set --save` and `checkpoint`. No container is lost or left stuck: the next command
works, the container is running or stopped and the kernel agrees, never two inits, and a
final stop + destroy leaves no cgroup, mount or process behind (the fixtures check that)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from hutch.api.client import Client
from hutch.paths import Paths

pytestmark = pytest.mark.root

DELAYS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.6, 0.9)  # s after the CLI began
WAIT = 60.0  # an upper bound for one CLI call, under load


def _inits(hutch, ctid: str) -> list[int]:
    """Processes of the container that are PID 1 of its PID namespace (its init)."""
    found = []
    for line in hutch.processes(ctid):
        pid = int(line.split()[0])
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        nspid = [x for x in status.splitlines() if x.startswith("NSpid:")]
        if nspid and nspid[0].split()[-1] == "1" and len(nspid[0].split()) > 2:
            found.append(pid)
    return found


def _consistent(hutch, ctid: str) -> str:
    """running or stopped, checked against the kernel; returns which."""
    status = hutch.status(ctid)
    assert status in ("running", "stopped"), status
    inits = _inits(hutch, ctid)
    if status == "running":
        assert inits == [hutch.init_pid(ctid)], (inits, hutch.state(ctid))
    else:
        assert inits == [] and hutch.processes(ctid) == [], hutch.processes(ctid)
        assert hutch.state(ctid) is None
        assert hutch.cgroup_dirs(ctid) == []
    return status


def _new_daemon(hutch) -> int:
    """Bring up hutchd (as the CLI does) and return its pid; it adopts what runs."""
    Client(Paths(hutch.root)).start_daemon()
    pid = hutch.daemon_pid()
    assert pid is not None
    return pid


def _run_and_kill(argv: list[str], delay: float, victim: int | None) -> None:
    """Run a CLI command, kill -9 `victim` (or the CLI itself) `delay` s after, reap it."""
    p = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    time.sleep(delay)
    os.kill(p.pid if victim is None else victim, signal.SIGKILL)
    try:
        _, err = p.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"{argv[3:]} hung after the kill")
    assert b"Traceback" not in err, err.decode()


def test_kill_9_of_hutchd_during_start_and_stop(hutch):
    ctid = hutch.create()
    seen = set()
    for delay in DELAYS:
        for verb in ("start", "stop"):
            if verb == "stop":
                hutch.start(ctid)  # something to stop
            daemon = _new_daemon(hutch)
            assert _consistent(hutch, ctid) == ("stopped" if verb == "start" else "running")
            _run_and_kill(hutch.argv(verb, ctid), delay, daemon)
            hutch.wait_exit(daemon, 10)
            _new_daemon(hutch)  # re-adopts or cleans up what the dead one left
            seen.add((verb, _consistent(hutch, ctid)))
            # the next command works, whatever the kill interrupted
            if hutch.status(ctid) == "running":
                assert hutch.json("stop", ctid)["status"] == "stopped"
            assert hutch.start(ctid) > 0
            _consistent(hutch, ctid)
            hutch.ok("stop", ctid)
            _consistent(hutch, ctid)
    print(sorted(seen))
    hutch.ok("destroy", ctid)
    assert hutch.cgroup_dirs(ctid) == [] and hutch.processes(ctid) == []


def test_kill_9_of_the_cli_during_set_save(hutch):
    ctid = hutch.running()
    path = hutch.paths.ct_config(ctid)
    for i, delay in enumerate(DELAYS):
        old = path.read_text()
        new_desc = f"edit number {i}"
        _run_and_kill(
            hutch.argv("set", ctid, "--description", new_desc, "--hostname", f"h{i}", "--save"),
            delay,
            None,
        )
        text = path.read_text()
        desc = tomllib.loads(text).get("description")  # it parses: never torn
        assert text == old or desc == new_desc, text
        left = [n for n in os.listdir(path.parent) if n.endswith(".tmp")]
        assert left == [] or text == old, left
        for name in left:  # a temp file of the killed writer: harmless, removed here
            os.unlink(path.parent / name)
        hutch.ok("config", ctid)
        assert _consistent(hutch, ctid) == "running"
    # the container still takes settings, saved and live
    hutch.ok("set", ctid, "--description", "after", "--save")
    assert hutch.json("config", ctid)["description"] == "after"


def test_kill_9_of_the_cli_during_checkpoint(hutch):
    if not hutch.run("checkconfig").stdout.count("criu"):
        pytest.skip("no criu")
    ctid = hutch.running()
    seen = []
    for delay in (0.0, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.5):
        _run_and_kill(hutch.argv("checkpoint", ctid), delay, None)
        # the CLI is gone; what hutchd does for it runs to its end. `unfreeze` waits for the
        # container's turn in hutchd, so after it the checkpoint (if it began) is over
        p = hutch.run("unfreeze", ctid, timeout=WAIT)
        assert p.returncode != 0 and ("not frozen" in p.stderr or "not running" in p.stderr)
        status = _consistent(hutch, ctid)
        seen.append(status)
        assert not _frozen(hutch, ctid), "a frozen cgroup was left behind"
        if status == "stopped":  # checkpointed: it must come back
            hutch.ok("restore", ctid)
            assert _consistent(hutch, ctid) == "running"
        assert hutch.ok("exec", ctid, "true").returncode == 0
    print(seen)


def _frozen(hutch, ctid: str) -> bool:
    for d in hutch.cgroup_dirs(ctid):
        for name in ("cgroup.freeze", "freezer.state"):
            f = d / name
            if f.exists() and f.read_text().strip() in ("1", "FROZEN", "FREEZING"):
                return True
    return False
