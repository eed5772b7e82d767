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


def test_kill_9_of_hutchd_during_checkpoint(hutch):
    if not hutch.run("checkconfig").stdout.count("criu"):
        pytest.skip("no criu")
    ctid = hutch.running()
    seen = []
    for delay in (0.1, 0.3, 0.5, 0.7, 0.9, 1.2):
        daemon = _new_daemon(hutch)
        _run_and_kill(hutch.argv("checkpoint", ctid), delay, daemon)
        hutch.wait_exit(daemon, 10)
        # CRIU may outlive hutchd: wait until no criu of ours runs any more
        hutch.wait_until(lambda: not _criu_running(hutch), WAIT, "criu to finish")
        _new_daemon(hutch)
        status = _consistent(hutch, ctid)
        seen.append(status)
        assert not _frozen(hutch, ctid), "a frozen cgroup was left behind"
        if status == "stopped":
            p = hutch.run("restore", ctid)
            if p.returncode != 0:  # the dump did not complete: a fresh start then
                assert p.stderr.count("\n") == 1, p.stderr
                hutch.start(ctid)
            assert _consistent(hutch, ctid) == "running"
        p = hutch.run("exec", ctid, "true")
        assert p.returncode == 0, (seen, p.stderr, hutch.state(ctid), hutch.processes(ctid))
    print(seen)


def _criu_running(hutch) -> bool:
    for p in hutch.all_procs().values():
        try:
            cmd = Path(f"/proc/{p.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # criu, maybe behind its own loader, dumping into a directory of this root
        if any(b"criu" in a for a in cmd[:3]) and any(str(hutch.root).encode() in a for a in cmd):
            return p.state != "Z"
    return False


def _frozen(hutch, ctid: str) -> bool:
    for d in hutch.cgroup_dirs(ctid):
        for name in ("cgroup.freeze", "freezer.state"):
            f = d / name
            if f.exists() and f.read_text().strip() in ("1", "FROZEN", "FREEZING"):
                return True
    return False


# -- corrupt files: one line naming the file, never a traceback -------------------------------

CONFIGS = {
    "garbage": b"[[[ == not toml\n",
    "binary": bytes(range(256)) * 4,
    "wrong types": b'onboot = "maybe"\n[resources]\nmemory = 5\n',
}
VERBS_STOPPED = {  # verb -> argv after the ID; each reads config.toml first
    "status": [],
    "start": [],
    "set": ["--onboot", "yes", "--save"],
    "destroy": [],
    "config": [],
}


def _one_line(hutch, *args: object) -> str:
    """A failing CLI call: one `hutch:` line on stderr (the fixture fails any traceback)."""
    p = hutch.run(*args)
    lines = p.stderr.strip().splitlines()
    assert p.returncode != 0, (args, p.stdout)
    assert len(lines) == 1 and lines[0].startswith("hutch: "), (args, p.stderr)
    return lines[0]


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_corrupt_config_is_one_line_naming_file_and_line(hutch, kind):
    ctid = hutch.create()
    path = hutch.paths.ct_config(ctid)
    good = path.read_bytes()
    path.write_bytes(CONFIGS[kind])
    for verb, more in VERBS_STOPPED.items():
        line = _one_line(hutch, verb, ctid, *more)
        assert f"{path}:" in line, line  # the file and its line
    assert "not running" in _one_line(hutch, "exec", ctid, "true")
    assert f"{path}:" in _one_line(hutch, "stop", ctid)
    # `list -a` shows it (no container vanishes from the listing) and names the file
    p = hutch.run("list", "-a")
    assert p.returncode != 0 and ctid in p.stdout and f"{path}:" in p.stderr, p
    assert path.read_bytes() == CONFIGS[kind]  # nothing was changed
    assert hutch.cgroup_dirs(ctid) == [] and hutch.processes(ctid) == []
    path.write_bytes(good)
    hutch.start(ctid)


def test_truncated_config_does_not_make_a_container_privileged(hutch):
    ctid = hutch.create()
    path = hutch.paths.ct_config(ctid)
    text = path.read_text()
    # cut before [security]: what remains parses, but the ID map is gone
    path.write_text(text[: text.index("[security]")])
    line = _one_line(hutch, "start", ctid)
    assert "idmap_base is missing" in line and str(path) in line
    assert hutch.processes(ctid) == [] and hutch.cgroup_dirs(ctid) == []
    path.write_text(text)
    assert hutch.start(ctid) > 0


STATES = {
    "truncated": lambda good: good[: len(good) // 2],
    "garbage": lambda good: b'{"ctid": [1, 2',
    "not an object": lambda good: b"[1, 2, 3]",
    "wrong types": lambda good: good.replace(b'"pid": ', b'"pid": "x", "old": '),
}


def _pid1_state(good: bytes) -> bytes:
    import json

    d = json.loads(good)
    stat = Path("/proc/1/stat").read_text()
    d["pid"], d["starttime"] = 1, int(stat[stat.rindex(")") + 2 :].split()[19])
    return json.dumps(d).encode()


STATES["the host's init"] = _pid1_state


@pytest.mark.parametrize("kind", sorted(STATES))
def test_corrupt_run_state_is_one_line_and_stop_kill_recovers(hutch, kind):
    ctid = hutch.running()
    init = hutch.init_pid(ctid)
    path = hutch.paths.ct_state(ctid)
    good = path.read_bytes()
    path.write_bytes(STATES[kind](good))
    for args in (
        ("status", ctid),
        ("exec", ctid, "true"),
        ("set", ctid, "--hostname", "x", "--save"),
        ("destroy", ctid),
        ("destroy", "--force", ctid),
    ):
        line = _one_line(hutch, *args)
        assert str(path) in line, (args, line)
    # hutchd knows it runs (it started it): it says so
    assert "already running" in _one_line(hutch, "start", ctid)
    p = hutch.run("list")
    assert p.returncode != 0 and str(path) in p.stderr, p
    assert hutch.alive(init), "the container was lost"
    # hutchd restarted: it cannot adopt what it cannot read, and leaves it alone...
    daemon = hutch.daemon_pid()
    os.kill(daemon, signal.SIGKILL)
    hutch.wait_exit(daemon, 10)
    _new_daemon(hutch)
    assert hutch.alive(init)
    # ...until `stop --kill` ends it; then it starts again as new
    hutch.ok("stop", "--kill", ctid)
    hutch.wait_until(lambda: not hutch.alive(init), WAIT, "the old init to die")
    assert hutch.processes(ctid) == [] and hutch.cgroup_dirs(ctid) == []
    assert not path.exists()
    assert hutch.start(ctid) > 0
    _consistent(hutch, ctid)


def test_lock_file_that_is_not_a_file(hutch):
    ctid = hutch.running()
    lock = hutch.paths.ct_lock(ctid)
    lock.unlink(missing_ok=True)
    lock.mkdir()
    try:
        assert str(lock) in _one_line(hutch, "set", ctid, "--hostname", "x", "--save")
        assert _consistent(hutch, ctid) == "running"
        hutch.ok("stop", ctid)  # hutchd's own record of it suffices
        for args in (("start", ctid), ("destroy", ctid)):
            assert str(lock) in _one_line(hutch, *args)
        assert _consistent(hutch, ctid) == "stopped"
    finally:
        lock.rmdir()
    assert hutch.start(ctid) > 0
