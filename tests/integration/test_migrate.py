"""`hutch migrate` between two hutch "hosts" on this machine, over a real sshd and rsync.

The source host is a hutch root whose CLI and hutchd run in a throwaway network namespace
(netns.py); the target (migrate_rig.py) is another namespace with its own sshd and its own
hutch root, whose hutchd the remote `hutch` calls start in there. Addresses: 198.18.222.0/30.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from migrate_rig import TargetHost
from netns import HostNetns
from test_res_limits import groups, memory_limit
from test_sec_escape import ARGS, MOUNT_ATTACKS, assert_refused, install_probe, run_probe

pytestmark = pytest.mark.root

MIGRATE_TIMEOUT = 120.0

# a counter inside, its pid in /run/counter.pid; each value renamed into place, so a reader
# never finds /run/count empty half-way through a write
COUNTER = (
    "setsid sh -c 'echo $$ > /run/counter.pid; i=0; while :; do i=$((i+1)); "
    "echo $i > /run/count.new; mv /run/count.new /run/count; sleep 0.05; done' "
    "</dev/null >/dev/null 2>&1 &"
)


class Mig:
    def __init__(self, src, dst, target: TargetHost) -> None:
        self.src = src  # conftest Hutch of the source (CLI in the source namespace)
        self.dst = dst  # conftest Hutch of the target's root (CLI in the target namespace)
        self.target = target

    def src_ns_prefix(self) -> list[str]:
        """argv prefix: run a program in the source host's network namespace."""
        return self.target.source_ns.prefix

    def migrate_argv(self, ctid: str, *more: str) -> list[str]:
        return self.src.argv("migrate", ctid, self.target.dest, *self.target.ssh_args, *more)

    def paused_migrate(self, ctid: str, step: str, pause: Path, *more: str) -> subprocess.Popen:
        """A migration in the background that stops at `step` until `pause` is removed
        (HUTCH_MIGRATE_PAUSE: the file appears when it gets there)."""
        env = dict(os.environ, HUTCH_MIGRATE_PAUSE=f"{step}:{pause}")
        env.pop("HUTCH_ROOT", None)
        return subprocess.Popen(
            self.migrate_argv(ctid, *more),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )

    def migrate(self, ctid: str, *more: str) -> subprocess.CompletedProcess[str]:
        return self.src.run(
            "migrate", ctid, self.target.dest, *self.target.ssh_args, *more,
            timeout=MIGRATE_TIMEOUT,
        )  # fmt: skip

    def nothing_there(self, ctid: str) -> None:
        containers = self.dst.paths.containers
        left = sorted(p.name for p in containers.glob(f"*{ctid}*")) if containers.exists() else []
        assert left == [], f"left on the target: {left}"


@pytest.fixture(scope="module")
def mig(hutch_root, tmp_path_factory) -> Iterator[Mig]:
    src_ns = HostNetns.create(f"hutch-ms{os.getpid()}")
    src_ns.attach(hutch_root)
    target = None
    dst = None
    problems: list[str] = []
    try:
        target = TargetHost.create(
            tmp_path_factory.mktemp("migrate-target"), src_ns, f"hutch-mt{os.getpid()}"
        )
        dst = type(hutch_root)(target.root)
        target.ns.attach(dst)
        yield Mig(hutch_root, dst, target)
    finally:
        problems += hutch_root.remove_containers(hutch_root.container_ids())
        problems += hutch_root.stop_daemon()
        if dst is not None:
            problems += dst.remove_containers(dst.container_ids())
            problems += dst.stop_daemon()
            problems += [f"target cgroup left: {d}" for d in dst.cgroup_dirs()]
        if target is not None:
            problems += target.close()
        problems += src_ns.close()
    if problems:
        pytest.fail("migration hosts not clean:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def m(mig: Mig) -> Iterator[Mig]:
    before_src, before_dst = set(mig.src.container_ids()), set(mig.dst.container_ids())
    yield mig
    problems = mig.src.remove_containers(
        [c for c in mig.src.container_ids() if c not in before_src]
    )
    problems += mig.dst.remove_containers(
        [c for c in mig.dst.container_ids() if c not in before_dst]
    )
    if problems:
        pytest.fail("containers of this test not clean:\n  " + "\n  ".join(problems), pytrace=False)


def bump(h, ctid: str) -> str:
    """Add one to the counter file /counter inside the container; its new value."""
    script = "n=$(cat /counter 2>/dev/null || echo 0); echo $((n+1)) > /counter; cat /counter"
    return h.ok("exec", ctid, "sh", "-c", script).stdout.strip()


def test_rig_reaches_the_target_hutch(m: Mig) -> None:
    p = m.target.ssh("hutch", "list", "-a", "--json")
    assert p.returncode == 0, p.stderr
    p = m.target.ssh("echo $HUTCH_ROOT")  # one string: ssh joins words for a shell
    assert p.stdout.strip() == str(m.target.root)


def test_offline_running_container(m: Mig) -> None:
    ctid = m.src.running()
    for _ in range(3):
        bump(m.src, ctid)
    m.src.ok("exec", ctid, "sh", "-c", "echo payload > /root/data.txt")
    p = m.migrate(ctid)
    assert p.returncode == 0, p.stderr
    assert re.search(
        rf"Container {ctid} migrated to {m.target.dest} \(offline\), downtime", p.stdout
    )
    print(p.stdout.strip())  # the measured times, for -s runs
    assert "copied config and dir data" in p.stderr
    # there: running, with the data and the counter going on from where it was
    assert m.dst.status(ctid) == "running"
    assert m.dst.ok("exec", ctid, "cat", "/root/data.txt").stdout == "payload\n"
    assert bump(m.dst, ctid) == "4"
    # here: gone
    assert ctid not in m.src.container_ids()
    assert m.src.processes(ctid) == []
    assert m.src.cgroup_dirs(ctid) == []
    left = sorted(p.name for p in m.src.paths.containers.glob(f".{ctid}*"))
    assert left == []


# Container.migrate() run by a script in the source host's namespace (where the target is
# reachable), through the library alone
LIBRARY_MIGRATE = """
import json, sys
import hutch

root, ctid, mode, dest, identity, *options = sys.argv[1:]
ct = hutch.Host(root=root).get(ctid)
r = ct.migrate(dest, online=mode == "online", identity=identity, ssh_options=options)
assert isinstance(r, hutch.MigrationResult), type(r)
print(json.dumps(r.to_dict()))
"""


@pytest.mark.parametrize("mode", ["offline", "online"])
def test_library_migrate(m: Mig, mode: str) -> None:
    ctid = m.src.running()
    assert bump(m.src, ctid) == "1"
    ssh = m.target.ssh_args
    identity = ssh[ssh.index("--identity") + 1]
    options = [ssh[i + 1] for i, a in enumerate(ssh) if a == "-o"]
    script = [sys.executable, "-c", LIBRARY_MIGRATE, str(m.src.root), ctid, mode]
    p = subprocess.run(
        [*m.src_ns_prefix(), *script, m.target.dest, identity, *options],
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT,
        env={k: v for k, v in os.environ.items() if k != "HUTCH_ROOT"},
    )
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", "the library printed progress"
    result = json.loads(p.stdout)
    assert result["ctid"] == ctid and result["mode"] == mode and result["was_running"]
    assert m.dst.status(ctid) == "running"
    assert bump(m.dst, ctid) == "2"
    assert ctid not in m.src.container_ids()


def test_offline_stopped_overlay_container(m: Mig) -> None:
    ctid = m.src.new_id()
    m.src.ok("create", ctid, "--backend", "overlay")
    m.src.start(ctid)
    bump(m.src, ctid)
    m.src.ok("exec", ctid, "rm", "/bin/vi")  # a whiteout in the upper layer
    m.src.ok("stop", ctid)
    p = m.migrate(ctid)
    assert p.returncode == 0, p.stderr
    assert "(offline)" in p.stdout and "downtime" not in p.stdout
    assert ctid not in m.src.container_ids()
    assert m.dst.status(ctid) == "stopped"
    assert (m.dst.paths.ct_dir(ctid) / "upper/counter").read_text() == "1\n"
    assert not (m.dst.paths.ct_dir(ctid) / ".migrating").exists()
    m.dst.start(ctid)
    assert bump(m.dst, ctid) == "2"
    assert m.dst.run("exec", ctid, "ls", "/bin/vi").returncode != 0  # still deleted
    assert m.dst.ok("exec", ctid, "ls", "/bin/sh").returncode == 0  # the template layer


def test_target_unreachable(m: Mig) -> None:
    ctid = m.src.running()
    pid = m.src.init_pid(ctid)
    argv = ("migrate", ctid, m.target.dest, *m.target.ssh_args, "--port", "2")
    line = m.src.fails(*argv)
    assert f"cannot reach {m.target.dest} over ssh" in line
    assert m.src.init_pid(ctid) == pid  # untouched: the same init
    m.nothing_there(ctid)


def test_id_exists_there(m: Mig) -> None:
    ctid = m.src.running()
    pid = m.src.init_pid(ctid)
    m.dst.ok("create", ctid)
    line = m.src.fails("migrate", ctid, m.target.dest, *m.target.ssh_args)
    assert f"container {ctid} already exists on {m.target.dest}" in line
    assert m.src.init_pid(ctid) == pid
    assert m.dst.status(ctid) == "stopped"  # theirs, left alone
    assert not list(m.dst.paths.containers.glob(f".{ctid}.*"))


def test_online_needs_a_running_container(m: Mig) -> None:
    ctid = m.src.create()
    line = m.src.fails("migrate", ctid, m.target.dest, *m.target.ssh_args, "--online")
    assert "is not running" in line


@pytest.mark.parametrize(
    ("mode", "step"), [("offline", "copied"), ("offline", "adopted"), ("online", "adopted")]
)
def test_target_hutchd_killed_midway(m: Mig, mode: str, step: str, tmp_path: Path) -> None:
    ctid = m.src.running()
    bump(m.src, ctid)
    init_before = m.src.init_pid(ctid)
    if mode == "online":
        if not __import__("hutch.criu.readiness", fromlist=["probe"]).probe().usable:
            pytest.skip("CRIU is not usable here")
        # a process that must come back as it was (same PID inside, not started again)
        m.src.ok("exec", ctid, "sh", "-c", COUNTER)
        m.src.wait_until(
            lambda: m.src.run("exec", ctid, "test", "-s", "/run/count").returncode == 0,
            10,
            "the counter",
        )
        counter = _counter_pid(m.src, ctid)
    pause = tmp_path / "pause"
    proc = m.paused_migrate(ctid, step, pause, *(["--online"] if mode == "online" else []))
    try:
        m.src.wait_until(pause.exists, 60, f"the migration to pause at {step}")
        hutchd = m.target.daemon_pid()
        assert hutchd is not None and m.src.alive(hutchd)
        os.kill(hutchd, signal.SIGKILL)
        assert m.src.wait_exit(hutchd, 5)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(hutchd, 0)  # ours to reap: we are the subreaper of sshd's orphans
        pause.unlink()
        out, err = proc.communicate(timeout=MIGRATE_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode != 0, out
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hutch: ") and "exited during the migration" in last, err
    assert f"container {ctid} runs here again" in last
    # here: running again, with its data; there: nothing
    assert m.src.status(ctid) == "running"
    assert bump(m.src, ctid) == "2"
    if mode == "online":  # restored from its own checkpoint here: the same processes
        assert _counter_pid(m.src, ctid) == counter
        value = int(m.src.ok("exec", ctid, "cat", "/run/count").stdout)
        m.src.wait_until(
            lambda: int(m.src.ok("exec", ctid, "cat", "/run/count").stdout) > value,
            10,
            "the counter to go on",
        )
    else:
        assert m.src.init_pid(ctid) != init_before  # started again
    m.nothing_there(ctid)


def _lasting(h, ctid: str) -> list[str]:
    """PID and command of every process but the short-lived ones (ps itself, sleep, a
    zombie not yet reaped)."""
    out = h.ok("exec", ctid, "ps", "-o", "pid,args").stdout.splitlines()[1:]
    return sorted(x.strip() for x in out if not re.search(r"\d+ (ps|sleep|\[)", x))


def _counter_pid(h, ctid: str) -> str:
    return h.ok("exec", ctid, "cat", "/run/counter.pid").stdout.strip()


@pytest.mark.skipif(
    "checkpoint" not in __import__("hutch.cli.main", fromlist=["VERBS"]).VERBS,
    reason="needs 'hutch checkpoint' and 'hutch restore' (issue 7, in progress)",
)
@pytest.mark.skipif(
    "restore" not in __import__("hutch.cli.main", fromlist=["VERBS"]).VERBS,
    reason="needs 'hutch restore' (issue 7, in progress)",
)
def test_online_counter_pids_and_tcp_survive(m: Mig) -> None:
    from hutch.criu import readiness

    r = readiness.probe()
    if not r.usable:
        pytest.skip(f"CRIU is not usable here: {r.problems[:1] or 'not installed'}")
    ctid = m.src.running()
    m.src.ok("set", ctid, "--memory", "300M")  # live, not saved: the target runs with it too
    # a counter that never restarts (its value only grows), and a TCP connection inside the
    # container (busybox nc server <- client over lo) that must carry data after the move;
    # each in a session of its own inside (CRIU dumps no session led from outside)
    m.src.ok("exec", ctid, "sh", "-c", COUNTER)
    m.src.ok("exec", ctid, "sh", "-c",
             "exec </dev/null >/dev/null 2>&1; "
             # (the server's stdin stays open: busybox nc ends the connection at its EOF)
             "setsid sh -c 'tail -f /dev/null | nc -l -p 7000 > /run/got' & sleep 0.2; "
             "setsid sh -c 'while :; do echo tick; sleep 0.1; done "
             "| nc 127.0.0.1 7000' &")  # fmt: skip
    m.src.wait_until(lambda: (m.src.rootfs(ctid) / "run/counter.pid").exists() or
                     m.src.run("exec", ctid, "test", "-s", "/run/counter.pid").returncode == 0,
                     10, "the counter")  # fmt: skip
    counter = _counter_pid(m.src, ctid)
    m.src.wait_until(
        lambda: m.src.ok("exec", ctid, "cat", "/run/got").stdout.startswith("tick"),
        10,
        "data over the TCP connection before the migration",
    )
    pids_before = _lasting(m.src, ctid)
    time.sleep(0.3)
    value_before = int(m.src.ok("exec", ctid, "cat", "/run/count").stdout)
    p = m.migrate(ctid, "--online")
    assert p.returncode == 0, p.stderr
    assert re.search(r"\(online\), downtime [\d.]+s, total [\d.]+s", p.stdout), p.stdout
    assert "pre-dumps skipped" in p.stderr
    assert m.dst.status(ctid) == "running"
    assert _counter_pid(m.dst, ctid) == counter
    assert _lasting(m.dst, ctid) == pids_before
    time.sleep(0.3)
    value_after = int(m.dst.ok("exec", ctid, "cat", "/run/count").stdout)
    assert value_after > value_before  # went on, never from 0 again
    assert memory_limit(groups(m.dst, ctid)) == 300 << 20
    assert m.dst.json("config", ctid)["unsaved"] == ["resources.memory"]
    got = int(m.dst.ok("exec", ctid, "wc", "-l", "/run/got").stdout.split()[0])
    m.dst.wait_until(
        lambda: int(m.dst.ok("exec", ctid, "wc", "-l", "/run/got").stdout.split()[0]) > got + 3,
        10,
        "data over the migrated TCP connection",
    )
    assert ctid not in m.src.container_ids()


# A client on the source host that reads the container's ticks and counts them in a file.
_CLIENT = """
import os, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.settimeout(60)  # the container is away for the downtime: the connection waits
n = 0
while True:
    data = s.recv(4096)
    if not data:
        break
    n += data.count(b"tick")
    with open(sys.argv[3] + ".tmp", "w") as f:
        f.write(str(n))
    os.replace(sys.argv[3] + ".tmp", sys.argv[3])
"""


def test_online_tcp_connection_from_another_host_survives(m: Mig, tmp_path: Path) -> None:
    """The container (venet, an address on the hosts' link) serves a TCP stream to a client
    on the source host; after the online move the same connection carries on from the target
    (which now answers ARP for the address)."""
    from hutch.criu import readiness

    if not readiness.probe().usable:
        pytest.skip("CRIU is not usable here")
    import sys

    ctid = m.src.new_id()
    m.src.ok("create", ctid)
    m.src.ok("set", ctid, "--ipadd", "198.18.222.50", "--save")
    m.src.start(ctid)
    m.src.ok("exec", ctid, "sh", "-c",
             "setsid sh -c 'while :; do echo tick; sleep 0.1; done | nc -l -p 7100' "
             "</dev/null >/dev/null 2>&1 &")  # fmt: skip
    count = tmp_path / "ticks"
    time.sleep(0.3)
    client = subprocess.Popen(
        [*m.src_ns_prefix(), sys.executable, "-c", _CLIENT, "198.18.222.50", "7100", str(count)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def ticks() -> int:
            try:
                return int(count.read_text() or 0)
            except (FileNotFoundError, ValueError):
                return 0

        m.src.wait_until(lambda: ticks() >= 5, 10, "ticks before the move")
        p = m.migrate(ctid, "--online")
        assert p.returncode == 0, p.stderr
        assert m.dst.status(ctid) == "running"
        after = ticks()
        m.src.wait_until(lambda: ticks() > after + 10, 20, "ticks over the moved connection")
        assert client.poll() is None, client.stderr.read() if client.stderr else ""
    finally:
        if client.poll() is None:
            client.kill()
        client.communicate(timeout=10)


# Inside the container: directories /sw0../sw9 whose files carry the paths of host files,
# each swapped in a loop for a symlink to "/" and back, so that a sender reading by path
# between its listing and its reading would open the host's file instead.
_SWAPPER = """
for i in 0 1 2 3 4 5 6 7 8 9; do
  for f in "$@"; do mkdir -p /sw$i/${f%/*}; echo dummy > /sw$i/$f; done
done
echo ready > /run/swapper
while :; do
  for i in 0 1 2 3 4 5 6 7 8 9; do
    mv /sw$i /sw$i.d && ln -s / /sw$i && rm /sw$i && mv /sw$i.d /sw$i
  done
done
"""


def test_online_live_copy_sees_only_the_container(m: Mig, tmp_path: Path) -> None:
    """Issue 12 item 4: a container swapping directories for symlinks to "/" while its files
    are copied live gets nothing of the host's into the copy (host-only marker, /etc/shadow,
    root's files): the sender reads in a root without the host's."""
    from hutch.criu import readiness

    if not readiness.probe().usable:
        pytest.skip("CRIU is not usable here")
    marker = m.src.root / "host-only-marker-item4"
    marker.write_text("only the host has this\n")
    wanted = [str(marker).lstrip("/"), "etc/shadow", "etc/passwd", "root/.bashrc"]
    ctid = m.src.running()
    m.src.ok("exec", ctid, "sh", "-c",
             f"setsid sh -c '{_SWAPPER}' swapper {' '.join(wanted)} "
             "</dev/null >/dev/null 2>&1 &")  # fmt: skip
    m.src.wait_until(
        lambda: m.src.run("exec", ctid, "test", "-s", "/run/swapper").returncode == 0,
        30,
        "the swapper",
    )
    pause = tmp_path / "pause"
    proc = m.paused_migrate(ctid, "dumped", pause, "--online")
    try:
        # after the live passes, before the copy of the dump: what they sent is there
        m.src.wait_until(
            lambda: pause.exists() or proc.poll() is not None,
            MIGRATE_TIMEOUT,
            "the migration to pause after the dump",
        )
        assert pause.exists(), f"the migration ended before the dump: {proc.communicate()[1]}"
        staged = [p for p in m.dst.paths.containers.glob(f".{ctid}.*") if p.is_dir()]
        seen, foreign = 0, []
        for d in staged:
            for dirpath, _, files in os.walk(d):
                if "/sw" not in dirpath:
                    continue
                for name in files:
                    path = Path(dirpath) / name
                    if path.is_symlink() or not path.is_file():
                        continue
                    seen += 1
                    if path.read_bytes() != b"dummy\n":
                        foreign.append(str(path))
        pause.unlink()
        _, err = proc.communicate(timeout=MIGRATE_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    print(f"{seen} swapped files copied live")
    assert foreign == [], f"host files in the live copy: {foreign}"
    assert seen > 0, "the live pass copied none of the swapped files"
    assert proc.returncode == 0, err
    assert m.dst.status(ctid) == "running"


def test_live_copy_jail_holds_nothing_of_the_host(tmp_path: Path) -> None:
    """The sender's root (hutch.migrate.jail): the container's data at /ct, the host's
    programs, and nothing else of the host's: not its /etc, /root, /tmp or /proc, not a file
    a symlink in the data aims at (rsync >= 3.4 also opens files without following swapped
    links; the jail holds for any sender)."""
    from hutch.migrate.jail import INSIDE, Jail

    marker = tmp_path / "host-only-marker"
    marker.write_text("only the host has this\n")
    data = tmp_path / "rootfs"
    (data / "etc").mkdir(parents=True)
    (data / "etc/hostname").write_text("ct\n")
    (data / "escape").symlink_to("/")
    base = tmp_path / "jail"
    base.mkdir()
    sock = tmp_path / "ctl"
    sock.write_text("")  # stands in for the master's socket: only its path matters here
    script = (
        f"cat {INSIDE}/etc/hostname; "
        f"for p in {marker} {INSIDE}/escape{marker} /etc/shadow /etc/hostname /root/.ssh "
        f"/proc/1 /tmp/{tmp_path.name} {INSIDE}/escape/etc/shadow; do "
        "test -e $p && echo REACHED $p; done; "
        "ls /; cat /etc/passwd; touch /ct/x 2>/dev/null && echo WROTE /ct/x; true"
    )
    jail = Jail(base=str(base), data=str(data), socket=str(sock))
    r = subprocess.run(
        ["/bin/sh", "-c", script],
        preexec_fn=jail.enter,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "ct"
    assert not [x for x in lines if x.startswith(("REACHED", "WROTE"))], r.stdout
    assert "root:x:0:0:root:/root:/bin/sh" in lines
    top = set(lines[1:-1])
    assert {"ct", "usr", "etc", "dev"} <= top and not top & {"home", "var", "opt", "work"}, top
    assert not os.path.ismount(base)  # the jail's mounts stay in its own namespace


def accept(rig: Mig, *keys: str) -> None:
    """The target's operator accepts these confinement-weakening keys (issue 12 item 9);
    none: the target's hutch.toml is gone again."""
    path = rig.dst.paths.etc / "hutch.toml"
    if not keys:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[migrate]\naccept = [" + ", ".join(f'"{k}"' for k in keys) + "]\n")


@pytest.mark.parametrize("mode", ["unprivileged", "privileged"])
def test_mounts_stay_locked_after_an_online_migration(
    m: Mig, mode: str, probe_binary: Path, tmp_path: Path
) -> None:
    """Issue 12 item 3 across hosts: after an online move (a restore there) the escape
    suite's attacks on hutch's mounts are refused on the target as after a start."""
    from types import SimpleNamespace

    from hutch.criu import readiness

    if not readiness.probe().usable:
        pytest.skip("CRIU is not usable here")
    ctid = m.src.new_id()
    m.src.ok("create", ctid, *(["--privileged"] if mode == "privileged" else []))
    install_probe(m.src, ctid, probe_binary)
    m.src.start(ctid)
    m.src.ok("exec", ctid, "sh", "-c", "setsid sleep 86400 </dev/null >/dev/null 2>&1 &")
    if mode == "privileged":
        accept(m, "security.privileged")  # the target's consent
    try:
        p = m.migrate(ctid, "--online")
    finally:
        accept(m)
    assert p.returncode == 0, p.stderr
    assert "sleep 86400" in m.dst.ok("exec", ctid, "ps", "-o", "args").stdout
    marker = tmp_path / "host-only-marker"
    marker.write_text("only the host has this\n")
    facts = SimpleNamespace(marker=marker)
    results = {}
    for attack in MOUNT_ATTACKS:
        r = run_probe(m.dst, ctid, attack, *ARGS[attack](facts))
        results[attack] = r.stdout.strip()
        assert_refused(r, attack)
    print("\n".join(f"{k}: {v}" for k, v in results.items()))
