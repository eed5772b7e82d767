"""Fixtures of the root tier: real containers on the real kernel, and a host left as found.

* `host_leak_check` (session, autouse): snapshots the host before the first integration test
  and after the last one, and fails the run (an error in teardown naming each leak) if a
  mount, a `hutch*` cgroup directory, a network device, a loop device or a descendant process
  appeared or vanished, or an nftables table of one of this run's roots was left. The test
  process is made a child subreaper first, so what the tests start and orphan (hutchd, the
  inits of a killed hutchd) stays its descendant and is seen.
  Other people's work on a shared host is told apart where it can be: cgroups of a hutchd
  that is not ours, mounts and loop files under /tmp but outside this run's temp directory.
* `hutch_root` (module): a `Hutch` on a fresh root in a temp directory; at the end every
  container of it is killed and destroyed, its hutchd stopped by the PID in its pid file
  (SIGTERM, then waited for), what remains of it checked (cgroups, processes) and the
  directory removed.
* `hutch` (function): the module's `Hutch`; at the end of the test every container the test
  created is killed and destroyed and checked gone.
* `PtyRun`: a CLI process on its own pty (console, enter, exec -t), read with deadlines.

Every subprocess gets a timeout, and no CLI call may print a traceback.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hutch.paths import Paths

CLI_TIMEOUT = 30.0
DAEMON_EXIT_TIMEOUT = 5.0
PROBE = Path(__file__).parent / "probe" / "probe.sh"
ESCAPE_PROBE_SRC = Path(__file__).parent / "escape" / "probe.c"  # attacks run inside
CGROUP_ROOT = Path("/sys/fs/cgroup")
BUSYBOX = Path("/bin/busybox")  # the busybox template is made from it
TRACEBACK = "Traceback (most recent call last)"
PR_SET_CHILD_SUBREAPER = 36

# cgroup names of the hutch roots this run made (leaks there are ours, whatever else runs)
_OUR_CGROUPS: set[str] = set()


# -- the kernel's view of processes ----------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str
    starttime: int


def read_proc(pid: int) -> Proc | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return Proc(pid, int(fields[1]), fields[0].decode(), int(fields[19]))


def all_procs() -> dict[int, Proc]:
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (p := read_proc(int(name))) is not None:
            procs[p.pid] = p
    return procs


def descendants(pid: int, procs: dict[int, Proc] | None = None) -> list[Proc]:
    procs = all_procs() if procs is None else procs
    children: dict[int, list[Proc]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p)
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c.pid)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def alive(pid: int, starttime: int | None = None) -> bool:
    p = read_proc(pid)
    return p is not None and p.state != "Z" and (starttime is None or p.starttime == starttime)


def reap_zombie_children() -> list[int]:
    """Reap our zombie children: orphans we inherited as subreaper (a stopped hutchd, the init
    of a container whose hutchd was killed). Only called when no subprocess of ours runs."""
    me = os.getpid()
    reaped = []
    for p in all_procs().values():
        if p.ppid == me and p.state == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(p.pid, os.WNOHANG)
                reaped.append(p.pid)
    return reaped


def wait_exit(pid: int, timeout: float) -> bool:
    """Wait for a process to end (any process, via a pidfd); True if it did in time."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def wait_until(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.02) -> Any:
    """Poll `pred` until it returns something true; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def set_child_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def hutchd_processes(procs: dict[int, Proc] | None = None) -> dict[int, str]:
    """pid -> root of every hutchd on the host (`python -m hutch.daemon --root R`)."""
    found = {}
    for pid in procs if procs is not None else all_procs():
        args = cmdline(pid)
        if "hutch.daemon" in args:
            root = args[args.index("--root") + 1] if "--root" in args[:-1] else "/"
            found[pid] = root
    return found


# -- the host leak check ---------------------------------------------------------------------


def _mount_points() -> Counter[str]:
    with open("/proc/self/mountinfo") as f:
        return Counter(line.split()[4] for line in f)


def _hutch_cgroups() -> set[str]:
    """Every cgroup directory named hutch* (and everything below it), in every hierarchy."""
    found = set()
    for hier in CGROUP_ROOT.iterdir():
        with contextlib.suppress(OSError):
            for top in hier.iterdir():
                if top.name.startswith("hutch") and top.is_dir():
                    for dirpath, _dirs, _files in os.walk(top):
                        found.add(dirpath)
    return found


def _hutch_nft_tables() -> set[str]:
    """`FAMILY NAME` of the nftables tables of the host's namespace named hutch* (NAT,
    port filters), or none without nft: nobody else's tables are read."""
    nft = shutil.which("nft") or ("/usr/sbin/nft" if os.access("/usr/sbin/nft", os.X_OK) else None)
    if nft is None:
        return set()
    try:
        argv = [nft, "-j", "list", "tables"]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        items = json.loads(p.stdout or "{}").get("nftables", [])
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return set()
    tables = (i["table"] for i in items if "table" in i)
    return {f"{t['family']} {t['name']}" for t in tables if t["name"].startswith("hutch")}


def _loop_devices() -> dict[str, str]:
    loops = {}
    for dev in Path("/sys/block").glob("loop*"):
        with contextlib.suppress(OSError):
            loops[dev.name] = (dev / "loop/backing_file").read_text().strip()
    return loops


@dataclass
class HostSnapshot:
    mounts: Counter[str]
    cgroups: set[str]
    netdevs: set[str]
    loops: dict[str, str]
    procs: dict[tuple[int, int], str]
    nft_tables: set[str]

    @classmethod
    def take(cls) -> HostSnapshot:
        procs = {
            (p.pid, p.starttime): f"{p.pid} [{p.state}] {' '.join(cmdline(p.pid))[:200]}"
            for p in descendants(os.getpid())
        }
        return cls(
            _mount_points(),
            _hutch_cgroups(),
            set(os.listdir("/sys/class/net")),
            _loop_devices(),
            procs,
            _hutch_nft_tables(),
        )

    def leaks(self, after: HostSnapshot, ours: Path) -> list[str]:
        """What differs from `self` to `after`, less what is clearly someone else's."""

        def foreign(path: str) -> bool:  # other people's temp files on a shared host
            return path.startswith("/tmp/") and not path.startswith(f"{ours}/")

        out = []
        for mnt, n in (after.mounts - self.mounts).items():
            if not foreign(mnt):
                out.append(f"mount appeared: {mnt}" + (f" (x{n})" if n > 1 else ""))
        for mnt, n in (self.mounts - after.mounts).items():
            if not foreign(mnt):
                out.append(f"mount vanished: {mnt}" + (f" (x{n})" if n > 1 else ""))
        theirs = {Paths.from_env(r).cgroup_name for r in hutchd_processes().values()}
        theirs -= _OUR_CGROUPS
        for cg in sorted(after.cgroups - self.cgroups):
            if Path(cg).relative_to(CGROUP_ROOT).parts[1] not in theirs:
                out.append(f"cgroup directory left: {cg}")
        out += [f"network device appeared: {d}" for d in sorted(after.netdevs - self.netdevs)]
        out += [f"network device vanished: {d}" for d in sorted(self.netdevs - after.netdevs)]
        for dev, backing in sorted(after.loops.items()):
            if self.loops.get(dev) != backing and not foreign(backing):
                out.append(f"loop device in use: /dev/{dev} -> {backing}")
        out += [
            f"process left: {desc}" for key, desc in after.procs.items() if key not in self.procs
        ]
        # tables of this run's roots only (hutch_<8 hex>...: the root's cgroup name)
        prefixes = tuple(cg.replace("-", "_") for cg in _OUR_CGROUPS if cg != "hutch")
        for table in sorted(after.nft_tables - self.nft_tables):
            if prefixes and table.split()[1].startswith(prefixes):
                out.append(f"nft table left: {table}")
        return out


NETNS_DIR = "/run/netns"


def _is_mount_point(path: str) -> bool:
    # os.path.ismount misses a directory bound onto itself (same device, as ip netns does)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def _release_netns_dir(was_mounted: bool) -> None:
    """`ip netns add` (the network tests' throwaway hosts) bind-mounts /run/netns onto
    itself the first time: undo that when the tests made it and left no namespace there.
    A namespace still listed is a real leak, and the snapshot below reports it."""
    if was_mounted or not _is_mount_point(NETNS_DIR) or os.listdir(NETNS_DIR):
        return
    subprocess.run(["umount", NETNS_DIR], capture_output=True, timeout=30, check=False)


@pytest.fixture(scope="session", autouse=True)
def host_leak_check(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if os.geteuid() != 0:  # root tests skip before their fixtures; this is belt and braces
        yield
        return
    set_child_subreaper(True)
    netns_dir_mounted = _is_mount_point(NETNS_DIR)
    before = HostSnapshot.take()
    try:
        yield
    finally:
        _release_netns_dir(netns_dir_mounted)
        ours = tmp_path_factory.getbasetemp()
        # give the kernel a moment to finish tearing down what just stopped
        deadline = time.monotonic() + 3.0
        while True:
            reap_zombie_children()
            leaks = before.leaks(HostSnapshot.take(), ours)
            if not leaks or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        set_child_subreaper(False)
    if leaks:
        pytest.fail(
            "the integration tests leaked into the host:\n  " + "\n  ".join(leaks),
            pytrace=False,
        )


# -- a hutch root and its CLI ----------------------------------------------------------------


class Hutch:
    """One hutch "host" on its own root: the CLI as a subprocess, and what the kernel says."""

    # the kernel helpers, for tests (which do not import conftest)
    wait_until = staticmethod(wait_until)
    wait_exit = staticmethod(wait_exit)
    alive = staticmethod(alive)
    all_procs = staticmethod(all_procs)

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths = Paths(root)
        self._ids = itertools.count(100)

    # the CLI

    def argv(self, *args: object) -> list[str]:
        return [sys.executable, "-m", "hutch", "--root", str(self.root), *map(str, args)]

    def run(
        self, *args: object, input: str | None = None, timeout: float = CLI_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run `hutch ARGS`; never hangs, never tolerates a traceback."""
        env = dict(os.environ)
        env.pop("HUTCH_ROOT", None)
        try:
            p = subprocess.run(
                self.argv(*args),
                input=input,
                stdin=subprocess.DEVNULL if input is None else None,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
            )
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"hutch {' '.join(map(str, args))} hung (> {timeout}s): {e.stderr!r}")
        assert TRACEBACK not in p.stderr, (
            f"traceback from hutch {' '.join(map(str, args))}:\n{p.stderr}"
        )
        return p

    def ok(self, *args: object, **kw: Any) -> subprocess.CompletedProcess[str]:
        p = self.run(*args, **kw)
        if p.returncode != 0:
            pytest.fail(
                f"hutch {' '.join(map(str, args))} exited {p.returncode}\n"
                f"stdout: {p.stdout}\nstderr: {p.stderr}"
            )
        return p

    def json(self, *args: object) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def fails(self, *args: object, code: int | None = None) -> str:
        """Run a command that must fail: one line on stderr, starting `hutch:`; returns it."""
        p = self.run(*args)
        cmd = f"hutch {' '.join(map(str, args))}"
        assert p.returncode != 0, f"{cmd} succeeded: {p.stdout}"
        if code is not None:
            assert p.returncode == code, f"{cmd}: exit {p.returncode}, not {code}: {p.stderr}"
        lines = p.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("hutch: "), f"{cmd} stderr: {p.stderr!r}"
        return lines[0]

    # containers

    def new_id(self) -> str:
        return str(next(self._ids))

    def create(self, ctid: str | None = None, hostname: str | None = None) -> str:
        ctid = ctid or self.new_id()
        self.ok("create", ctid, *(["--hostname", hostname] if hostname else []))
        return ctid

    def start(self, ctid: str) -> int:
        out = self.json("start", ctid)
        assert out["status"] == "running", out
        return int(out["pid"])

    def running(self, hostname: str | None = None, ctid: str | None = None) -> str:
        """A new container, started."""
        ctid = self.create(ctid, hostname)
        self.start(ctid)
        return ctid

    def container_ids(self) -> list[str]:
        try:
            names = os.listdir(self.paths.containers)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if (self.paths.containers / n / "config.toml").is_file())

    def state(self, ctid: str) -> dict | None:
        try:
            return json.loads(self.paths.ct_state(ctid).read_text())
        except FileNotFoundError:
            return None

    def init_pid(self, ctid: str) -> int | None:
        """The pid of the container's init if it is alive (the kernel agrees with the state)."""
        st = self.state(ctid)
        return st["pid"] if st and alive(st["pid"], st["starttime"]) else None

    def status(self, ctid: str) -> str:
        return self.json("status", ctid)["status"]

    def cgroup_dirs(self, ctid: str | None = None) -> list[Path]:
        """The cgroup directories of this root (or of one container) that exist, everywhere."""
        found = []
        for hier in CGROUP_ROOT.iterdir():
            d = hier / self.paths.cgroup_name
            if ctid is not None:
                d = d / ctid
            if d.is_dir():
                found.append(d)
        return found

    def processes(self, ctid: str | None = None) -> list[str]:
        """Processes of this root: in its (or one container's) cgroups, or its hutchd."""
        mark = f"/{self.paths.cgroup_name}" + (f"/{ctid}" if ctid is not None else "")
        found = []
        procs = all_procs()
        for pid, p in procs.items():
            if p.state == "Z":
                continue
            try:
                cg = Path(f"/proc/{pid}/cgroup").read_text()
            except OSError:
                continue
            if any(line.endswith(mark) or f"{mark}/" in line for line in cg.splitlines()):
                found.append(f"{pid} {' '.join(cmdline(pid))}")
        if ctid is None:
            for pid, root in hutchd_processes(procs).items():
                if root == str(self.root) and procs[pid].state != "Z":
                    found.append(f"{pid} {' '.join(cmdline(pid))} (hutchd)")
        return found

    def rootfs(self, ctid: str) -> Path:
        return self.paths.ct_rootfs(ctid)

    def probe(self, ctid: str) -> dict[str, list[str]]:
        """Run the in-container probe; its sections as lists of lines."""
        dest = self.rootfs(ctid) / "probe.sh"
        shutil.copyfile(PROBE, dest)
        out = self.ok("exec", ctid, "/bin/sh", "/probe.sh").stdout
        sections: dict[str, list[str]] = {}
        current: list[str] = []
        for line in out.splitlines():
            if line.startswith("@@ "):
                current = sections.setdefault(line[3:], [])
            else:
                current.append(line)
        assert "end" in sections, f"probe did not finish:\n{out}"
        return sections

    # the daemon

    def daemon_pid(self) -> int | None:
        """The pid in hutchd's pid file, if that process is alive and is this root's hutchd."""
        try:
            pid = int(self.paths.daemon_pidfile.read_text())
        except (FileNotFoundError, ValueError):
            return None
        args = cmdline(pid)
        if alive(pid) and "hutch.daemon" in args and str(self.root) in args:
            return pid
        return None

    def stop_daemon(self) -> list[str]:
        """SIGTERM this root's hutchd by its pid and wait for it to exit; problems found."""
        problems = []
        pid = self.daemon_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            if not wait_exit(pid, DAEMON_EXIT_TIMEOUT):
                problems.append(f"hutchd {pid} ignored SIGTERM for {DAEMON_EXIT_TIMEOUT}s")
                os.kill(pid, signal.SIGKILL)
                wait_exit(pid, DAEMON_EXIT_TIMEOUT)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # ours when we are its subreaper
        for other, root in hutchd_processes().items():
            if root == str(self.root) and alive(other):
                problems.append(f"a second hutchd {other} runs for {self.root}")
                os.kill(other, signal.SIGKILL)
                wait_exit(other, DAEMON_EXIT_TIMEOUT)
        return problems

    def force_clean(self) -> None:
        """Last resort after a failed cleanup: SIGKILL what is in this root's cgroups (by pid)
        and remove the cgroup directories, deepest first."""
        for _ in range(50):
            pids = set()
            for top in self.cgroup_dirs():
                for dirpath, _dirs, _files in os.walk(top):
                    with contextlib.suppress(OSError):
                        pids |= set((Path(dirpath) / "cgroup.procs").read_text().split())
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.02)
            reap_zombie_children()
        for top in self.cgroup_dirs():
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)

    def remove_containers(self, ids: list[str]) -> list[str]:
        """Kill and destroy containers, then check they are gone; problems found."""
        problems = []
        for ctid in ids:
            if self.init_pid(ctid) is not None:
                p = self.run("stop", "--kill", ctid)
                if p.returncode != 0:
                    problems.append(f"stop --kill {ctid}: {p.stderr.strip()}")
            p = self.run("destroy", ctid)
            if p.returncode != 0:
                problems.append(f"destroy {ctid}: {p.stderr.strip()}")
        reap_zombie_children()
        for ctid in ids:
            problems += [f"{ctid}: cgroup left: {d}" for d in self.cgroup_dirs(ctid)]
            problems += [f"{ctid}: process left: {p}" for p in self.processes(ctid)]
            if self.paths.ct_state(ctid).exists():
                problems.append(f"{ctid}: state file left: {self.paths.ct_state(ctid)}")
            if self.paths.ct_dir(ctid).exists():
                problems.append(f"{ctid}: directory left: {self.paths.ct_dir(ctid)}")
        return problems


@pytest.fixture(scope="module")
def hutch_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hutch]:
    if not BUSYBOX.is_file():
        pytest.skip(
            f"{BUSYBOX} is absent: the busybox template needs it (apt-get install busybox-static)"
        )
    root = tmp_path_factory.mktemp("hutch-root")
    h = Hutch(root)
    _OUR_CGROUPS.add(h.paths.cgroup_name)
    yield h
    problems = h.remove_containers(h.container_ids())
    problems += h.stop_daemon()
    reap_zombie_children()
    problems += [f"cgroup left: {d}" for d in h.cgroup_dirs()]
    problems += [f"process left: {p}" for p in h.processes()]
    if problems:
        h.force_clean()  # reported below; do not let one bug spoil the tests after it
    shutil.rmtree(root, ignore_errors=True)
    if problems:
        pytest.fail(f"hutch root {root} not clean:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def hutch(hutch_root: Hutch) -> Iterator[Hutch]:
    before = set(hutch_root.container_ids())
    yield hutch_root
    created = [c for c in hutch_root.container_ids() if c not in before]
    problems = hutch_root.remove_containers(created)
    if problems:
        pytest.fail("containers of this test not clean:\n  " + "\n  ".join(problems), pytrace=False)


# -- a CLI process on a pty ------------------------------------------------------------------


class PtyRun:
    """`hutch ARGS` with a new pty as stdin, stdout and stderr (a user at a terminal)."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = os.openpty()
        try:
            self.proc = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True
            )
        finally:
            os.close(slave)
        self.output = b""
        self.eof = False

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return
        try:
            data = os.read(self.master, 65536)
        except OSError as e:  # EIO: every slave fd is closed, the process is gone
            if e.errno != errno.EIO:
                raise
            data = b""
        if data:
            self.output += data
        else:
            self.eof = True

    def expect(self, needle: bytes, timeout: float = 5.0) -> bytes:
        """Read until `needle` appears in the output; returns the output so far."""
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            if self.eof or time.monotonic() > deadline:
                pytest.fail(f"{needle!r} not seen within {timeout}s; output: {self.output!r}")
            self._read(deadline - time.monotonic())
        return self.output

    def wait(self, timeout: float = 10.0) -> int:
        """Read to the end, then reap the process; returns its exit status."""
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._read(min(0.2, deadline - time.monotonic()))
            if self.proc.poll() is not None:
                self._read(0.05)  # what it wrote last
                break
        try:
            return self.proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.proc.args} did not exit; output: {self.output!r}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self.master)


@pytest.fixture
def pty_run() -> Iterator[Callable[[list[str]], PtyRun]]:
    runs: list[PtyRun] = []

    def start(argv: list[str]) -> PtyRun:
        runs.append(PtyRun(argv))
        return runs[-1]

    yield start
    for r in runs:
        r.close()


@pytest.fixture(scope="session")
def probe_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The escape probe (escape/probe.c), a static program run inside containers; built
    once for the whole run (the escape, terminal, network filter and migrate tests)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is absent: the escape probe is C (setup.sh --dev installs it)")
    out = tmp_path_factory.mktemp("escape") / "probe"
    p = subprocess.run(
        [gcc, "-static", "-O2", "-Wall", "-o", str(out), str(ESCAPE_PROBE_SRC)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if p.returncode != 0:
        pytest.fail(f"the escape probe does not build:\n{p.stderr}")
    return out
