"""Escape probes: attacks on the host from inside a running container, each refused.

A small static C program (escape/probe.c, built once per session) is copied into the
container and run with `hutch exec ID /probe ATTACK ARGS`. Each attack really makes its
system calls and says `refused: WHY` (exit 0) or `ESCAPED: WHAT` (exit 1); its payloads are
no-ops should they get through (values written back unchanged, sysrq 'h', reboot CAD as the
host has it, kexec and module calls the kernel rejects after its permission check). Around
every attack the host is read again (clock, host name, sysctls, release agents, mounts, a
host process the attacks aim at, hutchd): it must be as it was.

Every attack runs in two modes (`MODES`): unprivileged (the default: root mapped to an
unprivileged host uid by a user namespace) and privileged (`--privileged`: a user namespace
that maps every ID to itself, CAP_SYS_ADMIN out of the bounding set). Until `--privileged`
exists, `create_in_mode` stands in for it (see there); the tests compare behaviour, never
uids.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

MODES = {"unprivileged": [], "privileged": ["--privileged"]}
EXEC_TIMEOUT = 20.0
VICTIM_ARGV = ["sleep", "3600.4242"]  # a host process the attacks aim at
VICTIM_MARK = "3600.4242"
MEMORY_MIB = 48  # the main container's memory limit, and its task limit below
NUMPROC = 64
HOG_MIB = 160  # well over MEMORY_MIB
BOMB_MAX = 400  # the fork bomb stops by itself here, limit or not


# Attacks known to get through: (mode, attack) -> why. Each is an expected failure, strict:
# once it is refused the test fails until its entry goes. A host that changed, or any other
# failure, still fails the test. None today.
KNOWN_HOLES: dict[tuple[str, str], str] = {}


class Escaped(AssertionError):
    """An attack got through (the only failure a KNOWN_HOLES entry expects)."""


def expect_hole(request, mode: str, attack: str) -> None:
    why = KNOWN_HOLES.get((mode, attack))
    if why:
        request.node.add_marker(pytest.mark.xfail(reason=why, raises=Escaped, strict=True))


def create_in_mode(hutch, mode: str, *settings: str) -> str:
    """A new container in `mode` (not started), with `settings` saved (`hutch set` flags)."""
    ctid = hutch.new_id()
    hutch.ok("create", ctid, *MODES[mode])
    if settings:
        hutch.ok("set", ctid, *settings, "--save")
    return ctid


# -- the host, as the attacks must leave it -----------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return f"<{e.strerror}>"


def _host_mounts() -> set[tuple[str, str]]:
    """The host's mounts outside /tmp (other people's tests come and go there)."""
    out = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            point = left.split()[4]
            if not point.startswith(("/tmp/", "/run/netns")):
                out.add((point, right.split()[0]))
    return out


def _proc_status(pid: int) -> dict[str, str]:
    text = _read(f"/proc/{pid}/status")
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


@dataclass
class HostFacts:
    """What the attacks aim at on the host, passed to them as arguments."""

    disk: tuple[int, int]  # major, minor of the block device under /
    fstype: str
    ifname: str
    ifindex: int
    victim: subprocess.Popen
    hutchd: int
    marker: Path  # a file only the host has
    python: os.stat_result  # the host binary `hutch exec` runs until it execs

    def state(self) -> dict[str, object]:
        victim = _proc_status(self.victim.pid)
        return {
            "hostname": socket.gethostname(),
            "clock offset (s)": round(time.time() - time.monotonic()),
            "kernel.core_pattern": _read("/proc/sys/kernel/core_pattern"),
            "kernel.ctrl-alt-del": _read("/proc/sys/kernel/ctrl-alt-del"),
            "kernel.hostname": _read("/proc/sys/kernel/hostname"),
            "THP": _read("/sys/kernel/mm/transparent_hugepage/enabled"),
            "swaps": _read("/proc/swaps"),
            "release_agents": {
                p.parent.name: _read(str(p))
                for p in sorted(Path("/sys/fs/cgroup").glob("*/release_agent"))
            },
            "mounts": _host_mounts(),
            "victim": (victim.get("State", "?")[:1], victim.get("TracerPid", "?").strip()),
            "hutchd alive": os.path.exists(f"/proc/{self.hutchd}"),
            "marker": self.marker.read_text(),
            # usermode helpers the host's kernel runs as its root (issue 12 item 5)
            "kernel.modprobe": _read("/proc/sys/kernel/modprobe"),
            "uevent_helper": _read("/sys/kernel/uevent_helper"),
            "binfmt_misc": sorted(os.listdir("/proc/sys/fs/binfmt_misc"))
            if os.path.isdir("/proc/sys/fs/binfmt_misc")
            else [],
        }


def _root_disk() -> tuple[tuple[int, int], str]:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if left.split()[4] == "/":
                major, minor = left.split()[2].split(":")
                return (int(major), int(minor)), right.split()[0]
    raise AssertionError("no / in mountinfo")


def _host_iface() -> str:
    with open("/proc/net/route") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000":
                return fields[0]
    names = sorted(n for n in os.listdir("/sys/class/net") if n != "lo")
    return names[0] if names else "lo"


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def host(hutch_root, tmp_path_factory) -> HostFacts:
    disk, fstype = _root_disk()
    ifname = _host_iface()
    marker = hutch_root.root / "host-only-marker"
    marker.write_text("only the host has this file\n")
    victim = subprocess.Popen(VICTIM_ARGV, stdin=subprocess.DEVNULL)
    try:
        yield HostFacts(
            disk=disk,
            fstype=fstype,
            ifname=ifname,
            ifindex=int(_read(f"/sys/class/net/{ifname}/ifindex")),
            victim=victim,
            hutchd=0,  # filled in once a container started hutchd
            marker=marker,
            python=os.stat(os.path.realpath(sys.executable)),
        )
    finally:
        victim.kill()
        victim.wait(10)


@pytest.fixture(scope="module")
def neighbour(hutch_root) -> str:
    """A container of its own the attacks must not disturb."""
    return hutch_root.running()


@pytest.fixture(scope="module", params=list(MODES))
def mode(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def target(hutch_root, mode, probe_binary, host, neighbour) -> str:
    """The container the attacks run in, with limits (memory, tasks) and /probe inside."""
    ctid = create_in_mode(hutch_root, mode, "--memory", f"{MEMORY_MIB}M", "--numproc", str(NUMPROC))
    dest = hutch_root.rootfs(ctid) / "probe"
    shutil.copyfile(probe_binary, dest)
    dest.chmod(0o755)
    owner = hutch_root.rootfs(ctid).stat()  # the rootfs's root (a mapped uid in a user ns)
    os.chown(dest, owner.st_uid, owner.st_gid)
    hutch_root.start(ctid)
    host.hutchd = hutch_root.daemon_pid() or 0
    assert host.hutchd, "hutchd does not run"
    yield ctid
    hutch_root.remove_containers([ctid])


def run_probe(hutch, ctid: str, attack: str, *args: object) -> subprocess.CompletedProcess[str]:
    return hutch.run("exec", ctid, "--", "/probe", attack, *args, timeout=EXEC_TIMEOUT)


def assert_refused(p: subprocess.CompletedProcess[str], attack: str) -> str:
    out = p.stdout.strip()
    if p.returncode == 1 and out.startswith("ESCAPED"):
        raise Escaped(f"{attack}: {out}")
    assert p.returncode == 0 and out.startswith("refused:"), (
        f"{attack}: exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    )
    return out


def assert_host_unchanged(before: dict, after: dict) -> None:
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, f"the host changed: {changed}"


# -- the attacks ---------------------------------------------------------------------------

# attack -> its arguments, from the host's facts
ARGS = {
    "sysrq": lambda h: [],
    "reboot": lambda h: [_read("/proc/sys/kernel/ctrl-alt-del").strip()],
    "clock_settime": lambda h: [],
    "settimeofday": lambda h: [],
    "adjtimex": lambda h: [],
    "init_module": lambda h: [],
    "finit_module": lambda h: [],
    "delete_module": lambda h: [],
    "module_i386": lambda h: [],
    "kexec_load": lambda h: [],
    "kexec_file_load": lambda h: [],
    "kexec_i386": lambda h: [],
    "kexec_x32": lambda h: [],
    "syslog": lambda h: [],
    "acct": lambda h: [],
    "swapon": lambda h: [],
    "swapoff": lambda h: [],
    "iopl": lambda h: [],
    "ioperm": lambda h: [],
    "bpf": lambda h: [],
    "perf_event_open": lambda h: [],
    "userfaultfd": lambda h: [],
    "add_key": lambda h: [],
    "keyctl": lambda h: [],
    "request_key": lambda h: [],
    "disk": lambda h: [*h.disk],
    "disk_mount": lambda h: [*h.disk, h.fstype, h.marker],
    "dev_mem": lambda h: [],
    "dev_port": lambda h: [],
    "dev_kmsg": lambda h: [],
    "packet": lambda h: [h.ifname, h.ifindex],
    "host_proc": lambda h: [h.hutchd, "hutch.daemon"],
    "host_proc_victim": lambda h: [h.victim.pid, VICTIM_MARK],
    "setns_host": lambda h: [h.hutchd],
    "ptrace": lambda h: [h.victim.pid, VICTIM_MARK],
    "pidfd_open": lambda h: [h.victim.pid, VICTIM_MARK],
    "process_vm_readv": lambda h: [h.victim.pid, VICTIM_MARK],
    "kill": lambda h: [h.victim.pid, VICTIM_MARK],
    "release_agent": lambda h: [],
    "cgroup_mount": lambda h: [],
    "remount_proc_sys": lambda h: [],
    "remount_proc": lambda h: [],
    "umount_masks": lambda h: [],
    "umount_proc_sys": lambda h: [],
    "remount_sys": lambda h: [],
    "proc_mount": lambda h: [],
    "sysfs_mount": lambda h: [],
    "debugfs": lambda h: [],
    "tracefs": lambda h: [],
    "securityfs": lambda h: [],
    "chroot": lambda h: [h.marker],
    "open_by_handle": lambda h: [h.marker],
    "fds": lambda h: [],
    "userns": lambda h: [_read("/proc/sys/kernel/ctrl-alt-del").strip()],
    # -- seccomp: the default policy table (issue 12 item 6) --
    "io_uring_setup": lambda h: [],
    "fsopen": lambda h: [],
    "fsmount": lambda h: [],
    "fspick": lambda h: [],
    "open_tree": lambda h: [],
    "move_mount": lambda h: [],
    "mount_setattr": lambda h: [],
    "nested_unshare": lambda h: [],
    "nested_clone": lambda h: [],
    "nested_clone3": lambda h: [],
    "vsock": lambda h: [],
    "vsock_i386": lambda h: [],
    "personality": lambda h: [],
    "tiocsti": lambda h: [],
    "tioclinux": lambda h: [],
    # -- seccomp: end --
}
# the probe's name for an attack aimed differently here
PROBE_NAME = {"host_proc_victim": "host_proc"}

# -- privileged: device nodes, SCHED_FIFO, host-wide knobs (issue 12 item 5) ---------------
# (hutch_root's directory holds the marker; its run directory and hutchd's socket are there)
ARGS.update(
    {
        "mknod_console": lambda h: [*h.disk],
        "sched_fifo": lambda h: [],
        "powercap": lambda h: [],
        "asound": lambda h: [],
        "modprobe": lambda h: [],
        "uevent_helper": lambda h: [],
        "binfmt_misc": lambda h: [],
        "power_state": lambda h: [],
        "proc_net_unix": lambda h: [h.marker.parent / "run/hutch/hutchd.sock"],
        "run_hutch": lambda h: [h.marker.parent / "run/hutch"],
    }
)
# -- privileged: end --

# -- exec: the operator's terminal (issue 12 item 1) --------------------------------------
# (from a pipe here; tests/integration/test_sec_terminal.py types them into a real shell)
ARGS.update(
    {
        "sti": lambda h: ["echo PWNED-$((6*7))"],
        "tty_steal": lambda h: ["/tmp/stolen-by-escape-suite", 2],
    }
)
# -- exec: end --


@pytest.mark.parametrize("attack", list(ARGS))
def test_attack_is_refused(request, hutch_root, host, mode, target, attack):
    expect_hole(request, mode, attack)
    before = host.state()
    p = run_probe(hutch_root, target, PROBE_NAME.get(attack, attack), *ARGS[attack](host))
    print(f"{attack}: {p.stdout.strip()}")
    assert_host_unchanged(before, host.state())
    assert_refused(p, attack)


WATCH_SECONDS = 3.0


def watch_during_execs(
    hutch, ctid: str, probe_argv: list[object], exec_argv: list[str]
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run a watcher probe inside for WATCH_SECONDS while the host runs `hutch exec ID
    EXEC_ARGV` again and again; the watcher's result and how many execs ran."""
    env = {k: v for k, v in os.environ.items() if k != "HUTCH_ROOT"}
    watcher = subprocess.Popen(
        hutch.argv("exec", ctid, "--", "/probe", *probe_argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        time.sleep(0.3)  # the watcher is up
        deadline = time.monotonic() + WATCH_SECONDS - 0.8
        execs = 0
        while time.monotonic() < deadline and watcher.poll() is None:
            hutch.ok("exec", ctid, *exec_argv)
            execs += 1
        out, err = watcher.communicate(timeout=EXEC_TIMEOUT)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait(5)
    return subprocess.CompletedProcess(watcher.args, watcher.returncode, out, err), execs


def test_no_host_binary_reachable_during_exec(request, hutch_root, host, mode, target):
    """While `hutch exec` runs, its child is the host's Python until it execs: no process of
    the container may reach that binary through /proc/PID/exe (CVE-2019-5736)."""
    expect_hole(request, mode, "exe_watch")
    py = host.python
    p, execs = watch_during_execs(
        hutch_root, target, ["exe_watch", py.st_dev, py.st_ino, WATCH_SECONDS], ["true"]
    )
    print(f"exe_watch over {execs} execs: {p.stdout.strip()}")
    text = assert_refused(p, "exe_watch")
    assert execs >= 3
    # the watcher really watched: it saw the exec'd processes come and go
    seen = int(text.rsplit(",", 1)[1].split()[0])
    assert seen >= 2, text


# -- exec: the operator's command line, the entering process (issue 12 item 8) ------------


def test_no_command_line_or_entering_process_visible(hutch_root, host, mode, target):
    """While the host runs `hutch exec ID -e SECRET=... true` again and again, a watcher
    inside reads every /proc/PID/cmdline: none shows the secret or 'hutch' (the forked CLI
    carries the operator's argv until its execve), and no entering process (the host's
    Python) opens its mem, environ, exe, fd, cwd or root to the container's root (it is
    not dumpable after setns and setresuid either)."""
    secret = f"xyz{secrets.token_hex(6)}"
    py = host.python
    # the watcher skips its own cmdline, which holds the words
    probe = ["cmdline_watch", WATCH_SECONDS, py.st_dev, py.st_ino, secret, "hutch"]
    p, execs = watch_during_execs(
        hutch_root, target, probe, ["-e", f"SECRET={secret}", "--", "true"]
    )
    print(f"cmdline_watch over {execs} execs: {p.stdout.strip()}")
    text = assert_refused(p, "cmdline_watch")
    assert execs >= 3
    seen = int(text.split(" pids seen")[0].rsplit(" ", 1)[1])
    assert seen >= 2, text


# -- exec: end --


# -- after a checkpoint and restore (issue 12 item 3) ---------------------------------------

# The attacks on hutch's mounts, again in a container that was checkpointed and restored
# (CRIU remakes its processes, hutch its mounts: they must be as locked as after a start).
# test_migrate.py runs them after an online migration too.
MOUNT_ATTACKS = (
    "umount_masks",
    "remount_proc_sys",
    "remount_proc",
    "umount_proc_sys",
    "remount_sys",
    "proc_mount",
    "sysfs_mount",
    "release_agent",
    "cgroup_mount",
    "chroot",
    "fds",
    "userns",
)


def install_probe(hutch, ctid: str, probe: Path) -> None:
    """/probe in the container's rootfs, owned by its root."""
    dest = hutch.rootfs(ctid) / "probe"
    shutil.copyfile(probe, dest)
    dest.chmod(0o755)
    owner = hutch.rootfs(ctid).stat()
    os.chown(dest, owner.st_uid, owner.st_gid)


@pytest.fixture(scope="module")
def restored_target(hutch_root, mode, probe_binary, host, neighbour) -> str:
    """A container with /probe that was checkpointed and restored, a process carried over."""
    from hutch.criu import readiness

    r = readiness.probe()
    if not r.usable:
        pytest.skip(f"CRIU is not usable here: {r.problems[:1] or 'not installed'}")
    ctid = create_in_mode(hutch_root, mode)
    install_probe(hutch_root, ctid, probe_binary)
    hutch_root.start(ctid)
    hutch_root.ok("exec", ctid, "sh", "-c", "setsid sleep 86400 </dev/null >/dev/null 2>&1 &")
    hutch_root.ok("checkpoint", ctid)
    hutch_root.ok("restore", ctid)
    assert "sleep 86400" in hutch_root.ok("exec", ctid, "ps", "-o", "args").stdout
    host.hutchd = hutch_root.daemon_pid() or 0
    assert host.hutchd, "hutchd does not run"
    yield ctid
    hutch_root.remove_containers([ctid])


@pytest.mark.parametrize("attack", MOUNT_ATTACKS)
def test_attack_is_refused_after_restore(request, hutch_root, host, mode, restored_target, attack):
    expect_hole(request, f"{mode}, restored", attack)
    before = host.state()
    p = run_probe(hutch_root, restored_target, attack, *ARGS[attack](host))
    print(f"{attack} (restored): {p.stdout.strip()}")
    assert_host_unchanged(before, host.state())
    assert_refused(p, attack)


def _groups(hutch, ctid: str) -> dict[str, Path]:
    st = hutch.state(ctid)
    assert st is not None
    return {name: Path(path) for name, path in st["cgroup"]}


def _group(g: dict[str, Path], controller: str) -> Path:
    return g.get(controller, g.get("unified", Path("/nonexistent")))


def _events(top: Path, name: str, key: str) -> int:
    total = 0
    for d, _, _ in os.walk(top):
        with contextlib.suppress(OSError):
            for line in (Path(d) / name).read_text().splitlines():
                k, _, v = line.partition(" ")
                if k == key:
                    total = max(total, int(v))
    return total


def _limits(g: dict[str, Path]) -> tuple[str, str]:
    mem = _group(g, "memory")
    knob = "memory.limit_in_bytes" if (mem / "memory.limit_in_bytes").exists() else "memory.max"
    return (mem / knob).read_text().strip(), (_group(g, "pids") / "pids.max").read_text().strip()


def test_fork_bomb_is_held(hutch_root, host, target, neighbour):
    g = _groups(hutch_root, target)
    init, other = hutch_root.init_pid(target), hutch_root.init_pid(neighbour)
    before = host.state()
    p = run_probe(hutch_root, target, "forkbomb", BOMB_MAX)
    print(f"forkbomb: {p.stdout.strip()}")
    assert_refused(p, "forkbomb")
    assert _events(_group(g, "pids"), "pids.events", "max") > 0  # the kernel counted refusals
    assert hutch_root.init_pid(target) == init and hutch_root.init_pid(neighbour) == other
    hutch_root.ok("exec", neighbour, "true")
    hutch_root.ok("exec", target, "true")
    assert_host_unchanged(before, host.state())


def test_memory_hog_is_held(hutch_root, host, target, neighbour):
    g = _groups(hutch_root, target)
    init, other = hutch_root.init_pid(target), hutch_root.init_pid(neighbour)
    before = host.state()
    p = run_probe(hutch_root, target, "memhog", HOG_MIB)
    print(f"memhog: {p.stdout.strip()}")
    assert_refused(p, "memhog")
    mem = _group(g, "memory")
    failcnt = (
        int((mem / "memory.failcnt").read_text())
        if (mem / "memory.failcnt").exists()
        else _events(mem, "memory.events", "max")
    )
    assert failcnt > 0
    assert hutch_root.init_pid(target) == init and hutch_root.init_pid(neighbour) == other
    hutch_root.ok("exec", neighbour, "true")
    assert_host_unchanged(before, host.state())


def test_own_limits_cannot_be_raised(hutch_root, host, target):
    g = _groups(hutch_root, target)
    limits = _limits(g)
    p = run_probe(hutch_root, target, "raise_limits", HOG_MIB)
    print(f"raise_limits: {p.stdout.strip()}")
    assert_refused(p, "raise_limits")
    assert _limits(g) == limits


def test_symlinked_mount_targets_stay_inside(hutch, mode, tmp_path):
    """A rootfs whose /proc and /sys are symlinks to host directories: the start is refused,
    or the mounts land inside the rootfs; the host directories stay as they were, also after
    destroy."""
    outside = {}
    for name in ("proc", "sys"):
        d = tmp_path / f"host-{name}"
        d.mkdir()
        (d / "keep").write_text(name)
        outside[name] = d
    ctid = create_in_mode(hutch, mode)
    rootfs = hutch.rootfs(ctid)
    for name in outside:
        planted = rootfs / name
        if planted.is_dir() and not planted.is_symlink():
            shutil.rmtree(planted)
        else:
            planted.unlink(missing_ok=True)
    (rootfs / "proc").symlink_to(outside["proc"])  # absolute
    (rootfs / "sys").symlink_to("../" * 40 + str(outside["sys"]).lstrip("/"))  # relative

    def untouched() -> None:
        for name, d in outside.items():
            assert not os.path.ismount(d), f"{d} is a mount point"
            assert sorted(os.listdir(d)) == ["keep"], os.listdir(d)
            assert (d / "keep").read_text() == name

    p = hutch.run("start", ctid)
    untouched()
    if p.returncode == 0:
        pid = hutch.init_pid(ctid)
        assert pid is not None
        with open(f"/proc/{pid}/mountinfo") as f:
            points = {line.split()[4] for line in f}
        assert "/proc" in points, points
        for d in outside.values():  # as seen from the container's mount namespace
            assert str(d) not in points, points
        out = hutch.ok("exec", ctid, "cat", "/proc/self/comm").stdout
        assert out.strip() == "cat"
        hutch.ok("stop", "--kill", ctid)
        untouched()
    else:
        print(f"start refused: {p.stderr.strip()}")
    hutch.ok("destroy", ctid)
    untouched()


# -- privileged: the host's links through IFLA_TARGET_NETNSID (issue 12 item 5) ------------

HOST_LINK = "hpvtgt0"  # a bridge of the test's own: this kernel may lack dummy links


@pytest.fixture(scope="module")
def host_link() -> str:
    subprocess.run(["ip", "link", "add", HOST_LINK, "type", "bridge"], check=True)
    try:
        yield HOST_LINK
    finally:
        subprocess.run(["ip", "link", "del", HOST_LINK], check=False)


def test_target_netnsid_is_refused(request, hutch_root, host, mode, probe_binary, host_link):
    """A container with a veth holds an id for the host's network namespace (the kernel
    allocates it when the link is dumped inside); rtnetlink requests aimed at that id with
    IFLA_TARGET_NETNSID must not list or change the host's links."""
    expect_hole(request, mode, "target_netnsid")
    ctid = create_in_mode(hutch_root, mode, "--netif_add", "ifname=eth0")
    try:
        dest = hutch_root.rootfs(ctid) / "probe"
        shutil.copyfile(probe_binary, dest)
        dest.chmod(0o755)
        owner = hutch_root.rootfs(ctid).stat()
        os.chown(dest, owner.st_uid, owner.st_gid)
        hutch_root.start(ctid)
        mtu = _read(f"/sys/class/net/{host_link}/mtu").strip()
        before = host.state()
        p = run_probe(hutch_root, ctid, "target_netnsid", host_link, mtu)
        print(f"target_netnsid: {p.stdout.strip()}")
        assert_host_unchanged(before, host.state())
        assert _read(f"/sys/class/net/{host_link}/mtu").strip() == mtu
        text = assert_refused(p, "target_netnsid")
        # the attack had something to aim at: the id of the veth's host end's namespace
        assert "ids held []" not in text, text
    finally:
        hutch_root.remove_containers([ctid])


# what CAP_SYS_ADMIN would open to a privileged container without a user namespace of its own
SYS_ADMIN_ATTACKS = (
    "umount_masks",
    "umount_proc_sys",
    "remount_proc_sys",
    "remount_proc",
    "remount_sys",
    "proc_mount",
    "sysfs_mount",
    "cgroup_mount",
    "release_agent",
    "binfmt_misc",
    "mknod_console",
)


def test_privileged_with_cap_sys_admin_stays_in_its_namespaces(hutch_root, host, probe_binary):
    """`--cap_keep CAP_SYS_ADMIN` gives a privileged container powers over its own
    namespaces only: its user namespace maps every ID to itself, so the masks stay locked
    and the host's superblocks out of reach (once it voided every guarantee)."""
    ctid = create_in_mode(hutch_root, "privileged", "--cap_keep", "CAP_SYS_ADMIN")
    try:
        dest = hutch_root.rootfs(ctid) / "probe"
        shutil.copyfile(probe_binary, dest)
        dest.chmod(0o755)
        hutch_root.start(ctid)
        bnd = hutch_root.ok("exec", ctid, "grep", "CapBnd", "/proc/self/status").stdout
        assert int(bnd.split()[1], 16) & (1 << 21), bnd  # CAP_SYS_ADMIN is there
        for attack in SYS_ADMIN_ATTACKS:
            before = host.state()
            p = run_probe(hutch_root, ctid, attack, *ARGS[attack](host))
            print(f"{attack} (CAP_SYS_ADMIN): {p.stdout.strip()}")
            assert_host_unchanged(before, host.state())
            assert_refused(p, attack)
    finally:
        hutch_root.remove_containers([ctid])


def test_sched_fifo_refused_under_a_high_rtprio_limit(hutch_root, host, target, mode):
    """Without CAP_SYS_NICE over the host, RLIMIT_RTPRIO alone decides SCHED_FIFO/RR: an
    operator's shell (or hutchd) with a high one must not pass it on to `exec`."""
    import resource

    def high_rtprio() -> None:
        resource.setrlimit(resource.RLIMIT_RTPRIO, (99, 99))

    raise_it = "import resource; resource.setrlimit(resource.RLIMIT_RTPRIO, (99, 99))"
    if subprocess.run([sys.executable, "-c", raise_it], capture_output=True).returncode:
        pytest.skip("this host's root cannot raise RLIMIT_RTPRIO (no CAP_SYS_RESOURCE)")

    env = {k: v for k, v in os.environ.items() if k != "HUTCH_ROOT"}
    p = subprocess.run(
        hutch_root.argv("exec", target, "--", "/probe", "sched_fifo"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=EXEC_TIMEOUT,
        preexec_fn=high_rtprio,
    )
    print(f"sched_fifo (CLI at RTPRIO 99): {p.stdout.strip()}")
    assert_refused(p, "sched_fifo")


# -- privileged: end --
