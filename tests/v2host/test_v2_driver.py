"""The cgroup v2 driver against a real unified hierarchy: group layout, every limit, freeze,
delegation inside the container, enforcement, clean-up. Uses the library directly: under
emulation every Python start costs a second, so one process does it all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from reaping import kill_and_reap

from hutch.cgroups.v2 import V2Driver
from hutch.config import ContainerConfig
from hutch.container import lifecycle
from hutch.container.host import Host
from hutch.container.limits import from_config
from hutch.container.runtime import cleanup, launch
from hutch.linux import syscalls as sc

pytestmark = pytest.mark.root


def _cfg(ctid: str, **res: object) -> ContainerConfig:
    # privileged: the rootfs is the host's busybox tree, its files the host's own IDs
    values: dict[str, object] = {f"resources.{k}": v for k, v in res.items()}
    values["security.privileged"] = True
    return ContainerConfig.from_settings(ctid, values)


def _read(group: Path, knob: str) -> str:
    return (group / knob).read_text().strip()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Host:
    sc.set_child_subreaper()  # container inits become our children, so we can reap them
    h = Host(str(tmp_path_factory.mktemp("v2root")))
    assert isinstance(h.cgroups, V2Driver)
    return h


@pytest.fixture
def running(host: Host):
    """Start containers from the busybox template; kill and clean them up afterwards."""
    started = []

    def start(ctid: str, **res: object):
        if not lifecycle.exists(host, ctid):
            lifecycle.create(host, ctid)
        s = launch(host, _cfg(ctid, **res), with_console=False)
        started.append(s)
        return s

    yield start
    for s in started:
        kill_and_reap(s.state.pid)
        cleanup(host, s.state.ctid, s.state.cgroups)
        assert not s.state.cgroups.primary.exists()


def _exec(host: Host, ctid: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hutch", "--root", str(host.paths.root), "exec", ctid, *argv],
        capture_output=True,
        text=True,
        timeout=60,  # three in a test stay under the VM's hang guard
        check=False,
    )


def test_detects_v2_and_builds_the_two_level_layout(host: Host) -> None:
    cg = host.cgroups.create("lay")
    try:
        top = cg.primary
        assert top.parent.name == host.paths.cgroup_name
        assert (top / "ct").is_dir()
        # controllers flow down to the container's inner group (for a systemd inside)
        inner = set(_read(top / "ct", "cgroup.controllers").split())
        assert {"cpu", "memory", "pids"} <= inner, inner
    finally:
        cg.remove()
    assert not top.exists()


def test_every_limit_lands_in_its_v2_file(host: Host) -> None:
    cg = host.cgroups.create("lim")
    try:
        lim = from_config(
            _cfg(
                "lim",
                memory="64M:96M",
                swap="0",
                numproc="20",
                cpulimit=50,
                cpuunits=3000,
                cpuset="0",
                ioprio=6,
            )
        )
        warnings = host.cgroups.apply(cg, lim)
        g = cg.primary
        assert _read(g, "memory.max") == str(96 << 20)
        assert _read(g, "memory.high") == str(64 << 20)
        assert _read(g, "pids.max") == "20"
        assert _read(g, "cpu.max") == "50000 100000"
        assert _read(g, "cpu.weight") == "300"
        if (g / "cpuset.cpus").exists():
            assert _read(g, "cpuset.cpus") == "0"
        if (g / "memory.swap.max").exists():
            assert _read(g, "memory.swap.max") == "0"
        assert all(isinstance(w, str) for w in warnings)
        # and back to unlimited
        host.cgroups.apply(cg, from_config(_cfg("lim")))
        assert _read(g, "memory.max") == "max" and _read(g, "pids.max") == "max"
        assert _read(g, "cpu.max") == "max 100000" and _read(g, "cpu.weight") == "100"
    finally:
        cg.remove()


def test_container_runs_in_its_inner_group_with_delegated_view(host: Host, running) -> None:
    s = running("dlg", numproc="50")
    own = Path(f"/proc/{s.state.pid}/cgroup").read_text().strip()
    assert own == f"0::/{host.paths.cgroup_name}/dlg/ct", own
    inside = _exec(host, "dlg", "sh", "-c", "cat /proc/self/cgroup; grep cgroup2 /proc/mounts")
    assert inside.returncode == 0, inside.stderr
    lines = inside.stdout.splitlines()
    assert lines[0] == "0::/"
    assert any(" /sys/fs/cgroup cgroup2 " in line for line in lines), lines
    # the container may create groups below its root, as systemd does
    made = _exec(host, "dlg", "mkdir", "/sys/fs/cgroup/svc")
    assert made.returncode == 0, made.stderr
    assert (s.state.cgroups.primary / "ct" / "svc").is_dir()


def test_freeze_and_thaw(host: Host, running) -> None:
    s = running("frz")
    cg = s.state.cgroups
    host.cgroups.freeze(cg)
    assert host.cgroups.frozen(cg)
    state = Path(f"/proc/{s.state.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    assert state in ("S", "D", "T", "t")
    host.cgroups.thaw(cg)
    assert not host.cgroups.frozen(cg)


def test_numproc_is_enforced_and_counted(host: Host, running) -> None:
    s = running("bomb", numproc="12")
    r = _exec(
        host, "bomb", "sh", "-c", "for i in $(seq 40); do sleep 2 & done 2>/dev/null; echo spawned"
    )
    g = s.state.cgroups.primary
    # where the kernel counts the refusal differs by version (the forking task's group on
    # 6.1, the limiting group on kernels with pids.events.local): look at the whole tree
    refused = sum(
        int(dict(line.split() for line in _read(Path(d), "pids.events").splitlines())["max"])
        for d, _, files in os.walk(g)
        if "pids.events" in files
    )
    assert refused > 0, (r.stdout, r.stderr)
    assert r.returncode != 0  # the shell stopped at its first refused fork
    peak = g / "pids.peak"
    if peak.exists():
        assert int(_read(g, "pids.peak")) <= 12


def test_memory_hog_is_killed_inside_only(host: Host, running) -> None:
    s = running("hog", memory="24M")
    # ~48 MB of anonymous memory in one shell variable against 24M (tmpfs pages would stay
    # charged after the kill and starve every later process of the container)
    r = _exec(host, "hog", "sh", "-c", 'x=$(head -c 48000000 /dev/zero | tr "\\0" a); echo end')
    assert "end" not in r.stdout
    g = s.state.cgroups.primary
    events = dict(line.split() for line in _read(g, "memory.events").splitlines())
    assert int(events["max"]) > 0, (events, r.stdout, r.stderr)
    if (g / "memory.peak").exists():
        assert int(_read(g, "memory.peak")) <= 24 << 20
    # the container's init lives on
    assert Path(f"/proc/{s.state.pid}").exists()


def test_devices_outside_the_allowlist_cannot_be_opened(host: Host, running) -> None:
    from hutch.linux import bpf

    running("dev")
    gfd = os.open(host.cgroups.find("dev").primary, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(bpf.prog_query(gfd, bpf.BPF_CGROUP_DEVICE)) == 1
    finally:
        os.close(gfd)
    disk = _exec(host, "dev", "sh", "-c", "mknod /tmp/sda b 8 0; head -c1 /tmp/sda")
    assert disk.returncode != 0 and "Operation not permitted" in disk.stderr, disk.stderr
    mem = _exec(host, "dev", "sh", "-c", "mknod /tmp/mem c 1 1 && head -c1 /tmp/mem")
    assert mem.returncode != 0 and "Operation not permitted" in mem.stderr, mem.stderr
    ok = _exec(host, "dev", "sh", "-c", "echo x >/dev/null && head -c4 /dev/zero | wc -c")
    assert ok.returncode == 0 and ok.stdout.strip() == "4", ok.stderr


def test_the_device_program_is_replaced_not_stacked(host: Host) -> None:
    from hutch.linux import bpf
    from hutch.security import devices

    cg = host.cgroups.create("devrep")
    try:
        for _ in range(2):
            host.cgroups.restrict_devices(cg, devices.allowlist(("fuse",)))
        gfd = os.open(cg.primary, os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert len(bpf.prog_query(gfd, bpf.BPF_CGROUP_DEVICE)) == 1
        finally:
            os.close(gfd)
    finally:
        cg.remove()
