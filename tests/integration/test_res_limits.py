"""Resource limits on real cgroups: memory (OOM inside only), tasks (a fork bomb held),
CPU weight and cap, CPU pinning, live `hutch set`, bad values refused, nothing left after stop.

Every number is read from the kernel's files of the container's groups (v1 or v2, whichever
the host runs); the processes that load the container are started inside it with
`hutch exec` and, where they could outlive a test, killed by PID from the host.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

M = 1 << 20
BUSY = "while :; do :; done"
BOMB = "for i in $(seq 200); do sleep 30 </dev/null >/dev/null 2>&1 & done"
MEASURE = 2.0  # seconds of CPU accounting per measurement


# -- the container's groups, as the kernel shows them ------------------------------------


def groups(hutch, ctid: str) -> dict[str, Path]:
    """hierarchy name -> the container's top group (limits live there), from its state."""
    st = hutch.state(ctid)
    assert st is not None, f"container {ctid} has no run state"
    return {name: Path(path) for name, path in st["cgroup"]}


def v1(g: dict[str, Path]) -> bool:
    return "memory" in g  # the v1 driver has one entry per hierarchy; v2 only "unified"


def group(g: dict[str, Path], controller: str) -> Path:
    return g[controller] if v1(g) else g["unified"]


def knob(path: Path, name: str) -> str:
    return (path / name).read_text().strip()


def keyed(path: Path, name: str) -> dict[str, int]:
    out = {}
    for line in (path / name).read_text().splitlines():
        key, _, value = line.partition(" ")
        with contextlib.suppress(ValueError):
            out[key] = int(value)
    return out


def walk(top: Path) -> list[Path]:
    """The group and every group below it (v1 counts some events where the task sits)."""
    return [Path(d) for d, _, _ in os.walk(top)]


def memory_limit(g: dict[str, Path]) -> int | None:
    text = knob(group(g, "memory"), "memory.limit_in_bytes" if v1(g) else "memory.max")
    return None if text == "max" or int(text) >= 1 << 62 else int(text)


def cpu_quota_pct(g: dict[str, Path]) -> int | None:
    if v1(g):
        quota, period = (
            int(knob(g["cpu"], "cpu.cfs_quota_us")),
            int(knob(g["cpu"], "cpu.cfs_period_us")),
        )
    else:
        q, p = knob(g["unified"], "cpu.max").split()
        quota, period = (-1 if q == "max" else int(q)), int(p)
    return None if quota < 0 else quota * 100 // period


def pids_max(g: dict[str, Path]) -> int | None:
    text = knob(group(g, "pids"), "pids.max")
    return None if text == "max" else int(text)


def cpu_usage_ns(g: dict[str, Path]) -> int:
    if "cpuacct" in g:
        return int(knob(g["cpuacct"], "cpuacct.usage"))
    return keyed(g["unified"], "cpu.stat")["usage_usec"] * 1000


def container_pids(hutch, ctid: str) -> list[int]:
    primary = next(iter(groups(hutch, ctid).values()))
    pids = []
    for d in walk(primary):
        with contextlib.suppress(FileNotFoundError):
            pids += [int(p) for p in knob(d, "cgroup.procs").split()]
    return pids


def pids_running(hutch, ctid: str, argv: list[str]) -> list[int]:
    """Host PIDs of the container's processes running exactly `argv`."""
    out = []
    for pid in container_pids(hutch, ctid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = [a.decode() for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if args == argv:
            out.append(pid)
    return out


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def make(hutch, *flags: str) -> str:
    """A new container with `flags` saved, started."""
    ctid = hutch.create()
    if flags:
        hutch.ok("set", ctid, *flags, "--save")
    hutch.start(ctid)
    return ctid


@contextlib.contextmanager
def busy_loops(hutch, *ctids: str) -> Iterator[None]:
    """One CPU-bound shell loop in each container, running for the body of the `with`.

    Each loop also ends by itself (busybox `timeout`) should the test die before killing it.
    """
    env = {k: v for k, v in os.environ.items() if k != "HUTCH_ROOT"}
    procs = [
        subprocess.Popen(
            hutch.argv("exec", c, "timeout", "-s", "KILL", "15", "sh", "-c", BUSY),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for c in ctids
    ]
    try:
        for c in ctids:
            hutch.wait_until(
                lambda c=c: pids_running(hutch, c, ["sh", "-c", BUSY]), 10, f"busy loop in {c}"
            )
        yield
    finally:
        for c in ctids:
            kill_pids(pids_running(hutch, c, ["sh", "-c", BUSY]))
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def cpu_seconds_over(hutch, ctids: list[str], seconds: float) -> tuple[list[float], float]:
    """CPU seconds each container used over `seconds` of wall time, and the wall time."""
    gs = [groups(hutch, c) for c in ctids]
    t0, u0 = time.monotonic(), [cpu_usage_ns(g) for g in gs]
    time.sleep(seconds)  # the measurement window itself
    t1, u1 = time.monotonic(), [cpu_usage_ns(g) for g in gs]
    return [(b - a) / 1e9 for a, b in zip(u0, u1, strict=True)], t1 - t0


# -- memory ------------------------------------------------------------------------------


def test_memory_hog_is_oom_killed_inside_the_container_only(hutch):
    ctid = make(hutch, "--memory", "32M")
    other = hutch.running()
    init, other_init = hutch.init_pid(ctid), hutch.init_pid(other)
    g = groups(hutch, ctid)
    assert memory_limit(g) == 32 * M
    # ~100 MB of anonymous memory in one shell variable, against a 32M limit (no swap)
    p = hutch.run(
        "exec", ctid, "sh", "-c", 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo done'
    )
    assert p.returncode != 0 and "done" not in p.stdout, (p.returncode, p.stdout, p.stderr)
    # the container, its neighbour and the host are fine
    assert hutch.init_pid(ctid) == init and hutch.init_pid(other) == other_init
    hutch.ok("exec", ctid, "true")
    hutch.ok("exec", other, "true")
    # the kernel counted the limit being hit, and the kill
    top = group(g, "memory")
    if v1(g):
        failcnt = int(knob(top, "memory.failcnt"))
        # v1 counts an OOM kill in the group of the killed task (ct), not its ancestors
        oom_kills = sum(keyed(d, "memory.oom_control").get("oom_kill", 0) for d in walk(top))
    else:
        events = keyed(top, "memory.events")
        failcnt, oom_kills = events["max"], events["oom_kill"]
    assert failcnt > 0
    if p.returncode == 128 + signal.SIGKILL:
        assert oom_kills >= 1
    print(f"memory hog: exit {p.returncode}, failcnt {failcnt}, oom_kill {oom_kills}")


# -- tasks -------------------------------------------------------------------------------


def test_fork_bomb_is_held_at_numproc(hutch):
    ctid = make(hutch, "--numproc", "30")
    g = groups(hutch, ctid)
    top = group(g, "pids")
    assert pids_max(g) == 30
    before = int(knob(top, "pids.current"))
    before_pids = set(container_pids(hutch, ctid))
    env = {k: v for k, v in os.environ.items() if k != "HUTCH_ROOT"}
    bomb = subprocess.Popen(
        hutch.argv("exec", ctid, "sh", "-c", BOMB),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    sleeps: list[int] = []
    try:
        peak = 0
        deadline = time.monotonic() + 10
        while bomb.poll() is None and time.monotonic() < deadline:
            peak = max(peak, int(knob(top, "pids.current")))
            time.sleep(0.005)
        _, err = bomb.communicate(timeout=10)
        sleeps = pids_running(hutch, ctid, ["sleep", "30"])
        assert bomb.returncode != 0 and "fork" in err, (bomb.returncode, err)
        if (top / "pids.peak").exists():
            peak = max(peak, int(knob(top, "pids.peak")))
        assert 0 < peak <= 30
        assert 10 < len(sleeps) < 30
        refused = max(keyed(d, "pids.events").get("max", 0) for d in walk(top))
        assert refused > 0
        print(f"fork bomb at numproc 30: peak {peak}, {len(sleeps)} sleeps, {refused} refused")
    finally:
        kill_pids(sleeps)
        if bomb.poll() is None:
            bomb.kill()
            bomb.wait(5)

    def gone() -> bool:
        # a child the bomb forked last may exec its sleep only after the list above was
        # taken, or still be a shell about to (seen on a loaded host): end every process
        # the bomb made, whatever it runs now
        kill_pids(sorted(set(container_pids(hutch, ctid)) - before_pids))
        return int(knob(top, "pids.current")) <= before

    hutch.wait_until(gone, 5, "the sleeps to be gone")
    hutch.ok("exec", ctid, "true")


# -- CPU ---------------------------------------------------------------------------------


def test_cpuunits_share_one_cpu_by_weight(hutch):
    light = make(hutch, "--cpuset", "0", "--cpuunits", "1000")
    heavy = make(hutch, "--cpuset", "0", "--cpuunits", "3000")
    with busy_loops(hutch, light, heavy):
        (used_light, used_heavy), wall = cpu_seconds_over(hutch, [light, heavy], MEASURE)
    ratio = used_heavy / used_light
    print(f"cpuunits 3000:1000 on one CPU: {used_heavy:.2f}s / {used_light:.2f}s = {ratio:.2f}")
    assert used_light + used_heavy <= wall * 1.1  # one CPU between them
    assert 2 <= ratio <= 4.5


def test_cpulimit_caps_a_busy_loop(hutch):
    ctid = make(hutch, "--cpulimit", "50")
    assert cpu_quota_pct(groups(hutch, ctid)) == 50
    with busy_loops(hutch, ctid):
        (used,), wall = cpu_seconds_over(hutch, [ctid], MEASURE)
    print(f"cpulimit 50: {used:.2f}s of CPU in {wall:.2f}s = {used / wall:.2f}")
    assert 0.35 <= used / wall <= 0.65


# -- live set ----------------------------------------------------------------------------


def test_live_set_changes_the_cgroups_at_once_and_save_survives_restart(hutch):
    ctid = hutch.running()
    cfg_file = hutch.paths.ct_config(ctid)
    text = cfg_file.read_text()
    g = groups(hutch, ctid)
    assert (memory_limit(g), pids_max(g), cpu_quota_pct(g)) == (None, None, None)
    out = hutch.ok("set", ctid, "--memory", "48M", "--numproc", "40", "--cpulimit", "70").stdout
    assert "applied" in out and "saved" not in out
    assert (memory_limit(g), pids_max(g), cpu_quota_pct(g)) == (48 * M, 40, 70)
    assert cfg_file.read_text() == text
    # again, lower and back to no cap
    hutch.ok("set", ctid, "--memory", "40M", "--numproc", "35", "--cpulimit", "0")
    assert (memory_limit(g), pids_max(g), cpu_quota_pct(g)) == (40 * M, 35, None)
    assert cfg_file.read_text() == text
    hutch.ok("set", ctid, "--numproc", "20", "--save")
    assert pids_max(g) == 20
    assert "numproc" in cfg_file.read_text()
    hutch.ok("restart", "--timeout", "0", ctid)
    g = groups(hutch, ctid)
    # what was saved is back; what was only applied live is gone
    assert (pids_max(g), memory_limit(g), cpu_quota_pct(g)) == (20, None, None)


def test_live_cpuset_pins_the_container(hutch):
    if not Path("/sys/devices/system/cpu/cpu1/topology").exists() or (os.cpu_count() or 1) < 2:
        pytest.skip("needs CPU 1")
    ctid = hutch.running()
    hutch.ok("set", ctid, "--cpuset", "1")
    g = groups(hutch, ctid)
    inner = group(g, "cpuset") / "ct"
    cpus = knob(inner, "cpuset.cpus" if v1(g) else "cpuset.cpus.effective")
    assert cpus == "1"
    status = hutch.ok("exec", ctid, "cat", "/proc/self/status").stdout
    assert "Cpus_allowed_list:\t1\n" in status, status
    init_status = Path(f"/proc/{hutch.init_pid(ctid)}/status").read_text()
    assert "Cpus_allowed_list:\t1\n" in init_status


def test_bad_limits_are_refused_and_change_nothing(hutch):
    ctid = make(hutch, "--memory", "64M")
    cfg_file = hutch.paths.ct_config(ctid)
    text = cfg_file.read_text()
    g = groups(hutch, ctid)
    cpus_file = group(g, "cpuset") / "cpuset.cpus"
    cpus = cpus_file.read_text()

    def unchanged() -> None:
        assert cfg_file.read_text() == text
        assert memory_limit(g) == 64 * M
        assert cpus_file.read_text() == cpus

    assert "--memory" in hutch.fails("set", ctid, "--memory", "lots", code=2)
    unchanged()
    assert "99" in hutch.fails("set", ctid, "--cpuset", "99")
    unchanged()
    # refused before anything is written, even alongside a good value
    assert "99" in hutch.fails("set", ctid, "--memory", "40M", "--cpuset", "99", "--save")
    unchanged()
    assert "nosuch" in hutch.fails("set", ctid, "--iolimit", "nosuch=1M")
    unchanged()
    assert "nosuch" in hutch.fails("set", ctid, "--iolimit", "nosuch=1M", "--save")
    unchanged()
    hutch.ok("exec", ctid, "true")


# -- teardown ----------------------------------------------------------------------------


def test_stop_and_destroy_leave_no_cgroup(hutch):
    ctid = make(hutch, "--memory", "64M", "--numproc", "50", "--cpulimit", "80")
    dirs = list(groups(hutch, ctid).values())
    assert len(dirs) == len(hutch.cgroup_dirs(ctid)) and all(d.is_dir() for d in dirs)
    hutch.ok("stop", "--timeout", "0", ctid)
    assert [d for d in dirs if d.exists()] == []
    assert hutch.cgroup_dirs(ctid) == []
    hutch.ok("destroy", ctid)
    assert hutch.cgroup_dirs(ctid) == []
