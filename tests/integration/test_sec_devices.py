"""Security by default, from inside a container: the device allowlist (devices cgroup),
/proc/sys read-only but for the container's own network sysctls, masked paths, lxcfs."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

LXCFS_DIR = Path("/var/lib/lxcfs")


@pytest.fixture(scope="module")
def ct(hutch_root) -> str:
    return hutch_root.running(hostname="sec.example")


def sh(hutch, ct: str, command: str) -> subprocess.CompletedProcess[str]:
    return hutch.run("exec", ct, "--", "/bin/sh", "-c", command)


def test_a_disk_cannot_be_opened_even_when_its_node_can_be_made(hutch, ct):
    p = sh(hutch, ct, "mknod /tmp/sda b 8 0; head -c1 /tmp/sda")
    assert p.returncode != 0
    assert "Operation not permitted" in p.stderr, p.stderr


def test_kernel_memory_cannot_be_opened(hutch, ct):
    p = sh(hutch, ct, "mknod /tmp/mem c 1 1 && head -c1 /tmp/mem")
    assert p.returncode != 0
    assert "Operation not permitted" in p.stderr, p.stderr


def test_listed_devices_work(hutch, ct):
    p = sh(
        hutch,
        ct,
        "echo x > /dev/null && head -c4 /dev/zero | wc -c && head -c4 /dev/urandom | wc -c",
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["4", "4"]


def test_fuse_is_opt_in(hutch):
    if not Path("/dev/fuse").exists():
        pytest.skip("the host has no /dev/fuse")
    ctid = hutch.create()
    hutch.ok("set", ctid, "--devices", "fuse", "--save")
    hutch.start(ctid)
    # opening /dev/fuse without mounting: the kernel hands out a fuse connection
    p = sh(hutch, ctid, "test -c /dev/fuse && exec 3<>/dev/fuse && echo opened")
    assert p.returncode == 0 and "opened" in p.stdout, p.stderr


def test_fuse_is_absent_by_default(hutch, ct):
    p = sh(hutch, ct, "test -e /dev/fuse || echo absent; mknod /tmp/fuse c 10 229; cat /tmp/fuse")
    assert "absent" in p.stdout
    assert "Operation not permitted" in p.stderr, p.stderr


def test_network_sysctls_are_the_containers_own_and_writable(hutch, ct):
    before = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    other = "0" if before.strip() == "1" else "1"
    p = sh(
        hutch,
        ct,
        f"echo {other} > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward",
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == other
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == before


def test_other_sysctls_are_read_only(hutch, ct):
    p = sh(hutch, ct, "echo x > /proc/sys/kernel/hostname")
    assert p.returncode != 0
    assert "Read-only file system" in p.stderr, p.stderr


MASKED = (
    "/proc/kcore",
    "/proc/sysrq-trigger",
    "/proc/sched_debug",
    "/proc/keys",
    "/proc/timer_list",
)


@pytest.mark.parametrize("path", MASKED)
def test_host_kernel_files_are_masked(hutch, ct, path):
    if not Path(path).exists():
        pytest.skip(f"this kernel has no {path}")
    p = sh(hutch, ct, f"wc -c < {path}")
    assert p.returncode == 0 and p.stdout.strip() == "0", (p.stdout, p.stderr)


def test_sys_firmware_is_masked(hutch, ct):
    p = sh(hutch, ct, "ls -A /sys/firmware | wc -l; touch /sys/firmware/x")
    assert p.stdout.split()[0] == "0"
    assert p.returncode != 0


# -- lxcfs -----------------------------------------------------------------------------------


@pytest.fixture
def lxcfs(hutch):
    """An lxcfs at /var/lib/lxcfs: the host's, or one started here and stopped after."""
    if (LXCFS_DIR / "proc" / "meminfo").is_file():
        yield
        return
    exe = shutil.which("lxcfs")
    if exe is None:
        pytest.skip("lxcfs is not installed (apt-get install lxcfs)")
    made = not LXCFS_DIR.exists()
    LXCFS_DIR.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [exe, "-f", "--pidfile", "/run/hutch-test-lxcfs.pid", str(LXCFS_DIR)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not (LXCFS_DIR / "proc" / "meminfo").is_file():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"lxcfs cannot run here: {proc.stderr.read() if proc.stderr else ''!r}")
            time.sleep(0.05)
        yield
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            if not hutch.wait_exit(proc.pid, 10):
                os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if os.path.ismount(LXCFS_DIR):
            subprocess.run(["umount", "-l", str(LXCFS_DIR)], check=False)
        if made:
            LXCFS_DIR.rmdir()


def test_lxcfs_shows_the_containers_memory_limit(hutch, lxcfs):
    ctid = hutch.create()
    hutch.ok("set", ctid, "--memory", "128M", "--save")
    hutch.start(ctid)
    p = sh(hutch, ctid, "grep MemTotal /proc/meminfo")
    assert p.returncode == 0, p.stderr
    kib = int(p.stdout.split()[1])
    assert 120 * 1024 <= kib <= 136 * 1024, p.stdout
    hutch.ok("stop", "--kill", ctid)
