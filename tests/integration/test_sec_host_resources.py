"""What a container can take or reach of the host through its files (issue 12 item 9).

Filling /dev/shm (bounded, charged to the container's memory cgroup), filling the disk of an
image-backed container (stays inside its quota; the dir backend has no quota at all, and is
not tested for one), the permissions of the container's directories (a host user cannot
reach its rootfs, nor a setuid binary in it) and of its console log, a /dev/null the
container replaced before a restart, and a host device node planted in the rootfs. Every case
runs in both modes.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest
from test_sec_escape import MODES, create_in_mode

pytestmark = pytest.mark.root

MEMORY_MIB = 96  # /dev/shm gets half
NOBODY = 65534


@pytest.fixture(scope="module", params=list(MODES))
def mode(request) -> str:
    return request.param


def _sh(hutch, ctid: str, cmd: str) -> subprocess.CompletedProcess[str]:
    return hutch.run("exec", ctid, "--", "/bin/sh", "-c", cmd)


def _memory_usage(hutch, ctid: str) -> int:
    for d in hutch.cgroup_dirs(ctid):
        for name in ("memory.current", "memory.usage_in_bytes"):
            if (d / name).exists():
                return int((d / name).read_text())
    raise AssertionError(f"no memory cgroup for {ctid}")


def _shm_size_kib(mounts: str) -> int:
    for line in mounts.splitlines():
        fields = line.split()
        if fields[1] == "/dev/shm":
            opts = dict(o.partition("=")[::2] for o in fields[3].split(","))
            assert "size" in opts, line
            return int(opts["size"].rstrip("k"))
    raise AssertionError(f"no /dev/shm in\n{mounts}")


def test_dev_shm_is_bounded_and_charged(hutch, mode):
    ctid = create_in_mode(hutch, mode, "--memory", f"{MEMORY_MIB}M")
    free = create_in_mode(hutch, mode)
    hutch.start(ctid)
    hutch.start(free)
    # with a memory limit: half of it; without: 64 MiB (a tmpfs's default is half the RAM)
    shm = _shm_size_kib(hutch.ok("exec", ctid, "cat", "/proc/mounts").stdout)
    assert shm == MEMORY_MIB << 9
    assert _shm_size_kib(hutch.ok("exec", free, "cat", "/proc/mounts").stdout) == 64 << 10
    before = _memory_usage(hutch, ctid)
    # 200 MiB asked for: ENOSPC at the tmpfs's bound, before the memory cgroup's OOM killer
    p = _sh(hutch, ctid, "dd if=/dev/zero of=/dev/shm/fill bs=1M count=200; ls -l /dev/shm/fill")
    assert "No space left on device" in p.stderr, p.stderr
    size = int(p.stdout.split()[4])
    assert size == shm << 10, p.stdout
    # what is there is charged to the container (tmpfs pages belong to their writer's cgroup)
    assert _memory_usage(hutch, ctid) >= before + size * 3 // 4, (before, size)
    p = _sh(hutch, free, "dd if=/dev/zero of=/dev/shm/fill bs=1M count=200; ls -l /dev/shm/fill")
    assert "No space left on device" in p.stderr, p.stderr
    assert int(p.stdout.split()[4]) == 64 << 20


def test_filling_an_image_disk_stays_in_its_quota(hutch, mode):
    """The image backend's disk is an ext4 image file of the quota's size; the dir backend
    has no quota (its container writes into the host's file system, as OpenVZ's simfs)."""
    ctid = hutch.new_id()
    hutch.ok("create", ctid, *MODES[mode], "--backend", "image", "--diskspace", "40M:48M")
    hutch.start(ctid)
    host_free = shutil.disk_usage(hutch.root).free
    p = _sh(hutch, ctid, "dd if=/dev/zero of=/big bs=1M count=200")
    assert p.returncode != 0 and "No space left on device" in p.stderr, p.stderr
    image = hutch.paths.ct_dir(ctid) / "root.img"
    st = image.stat()
    assert st.st_size == 48 << 20
    assert st.st_blocks * 512 <= st.st_size  # sparse, never more than its size
    # the host lost at most the image's size (others share this disk: allow them 64 MiB)
    assert host_free - shutil.disk_usage(hutch.root).free <= (48 << 20) + (64 << 20)


def _as_nobody(*code: str) -> subprocess.CompletedProcess[str]:
    """Python code run as uid/gid 65534 with no supplementary groups (a host user)."""
    prog = "import os, sys\nos.setgroups([]); os.setgid(65534); os.setuid(65534)\n" + "\n".join(
        code
    )
    return subprocess.run(
        [sys.executable, "-c", prog], capture_output=True, text=True, timeout=30, cwd="/"
    )


def test_a_host_user_cannot_reach_the_rootfs_or_its_setuid_binary(hutch, mode):
    ctid = create_in_mode(hutch, mode)
    hutch.start(ctid)
    rootfs = hutch.rootfs(ctid)
    suid = rootfs / "suid-sh"
    shutil.copyfile(rootfs / "bin/busybox", suid)
    os.chmod(suid, 0o4755)
    ctdir = hutch.paths.ct_dir(ctid)
    for d in (ctdir, hutch.paths.containers):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    # walk to the rootfs from above for the child: make the hutch root itself crossable
    # (pytest's tmp dirs are 0700: without this the test would pass for the wrong reason)
    opened = []
    for p in [*reversed(hutch.root.parents), hutch.root, *list(hutch.paths.containers.parents)]:
        if p.is_dir() and not (p.stat().st_mode & 0o001):
            opened.append((p, p.stat().st_mode))
            os.chmod(p, p.stat().st_mode | 0o001)
    try:
        probe = _as_nobody(
            f"for what, fn in [('list', lambda: os.listdir({str(ctdir)!r})),",
            f"                 ('stat', lambda: os.stat({str(suid)!r})),",
            f"                 ('exec', lambda: os.execv({str(suid)!r}, ['sh', '-c', 'id']))]:",
            "    try:",
            "        fn()",
            "        print('REACHED', what)",
            "    except PermissionError:",
            "        print('refused', what)",
        )
        # the walk to /var/lib/hutch works for nobody (a parent is not what refuses)
        walk = _as_nobody(f"os.listdir({str(hutch.paths.lib)!r}); print('ok')")
    finally:
        for p, m in reversed(opened):
            os.chmod(p, m)
    assert walk.stdout.strip() == "ok", walk.stderr
    assert probe.stdout.split("\n")[:3] == ["refused list", "refused stat", "refused exec"], (
        probe.stdout + probe.stderr
    )


def test_console_log_is_root_only(hutch, mode):
    ctid = create_in_mode(hutch, mode)
    hutch.start(ctid)
    log = hutch.paths.ct_console_log(ctid)
    hutch.wait_until(log.exists, 30, "the console log")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(hutch.paths.log.stat().st_mode) == 0o700


@pytest.mark.parametrize("junk", ["file", "symlink"])
def test_a_replaced_dev_null_does_not_survive_a_restart(hutch, mode, junk):
    ctid = create_in_mode(hutch, mode)
    dev = hutch.rootfs(ctid) / "dev"
    dev.mkdir(exist_ok=True)
    null = dev / "null"
    if null.exists() or null.is_symlink():
        null.unlink()
    if junk == "file":
        null.write_text("a regular file where /dev/null should be\n")
    else:
        null.symlink_to("/etc/passwd")
    hutch.start(ctid)
    out = hutch.ok("exec", ctid, "ls", "-l", "/dev/null").stdout.split()
    assert out[0].startswith("c") and out[4:6] == ["1,", "3"], out
    hutch.ok("restart", ctid)
    out = hutch.ok("exec", ctid, "ls", "-l", "/dev/null").stdout.split()
    assert out[0].startswith("c") and out[4:6] == ["1,", "3"], out
    assert "root:" not in _sh(hutch, ctid, "echo x > /dev/null; cat /dev/null").stdout


def _root_disk() -> tuple[int, int]:
    st = os.stat("/")
    return os.major(st.st_dev), os.minor(st.st_dev)


def test_a_host_device_node_in_the_rootfs_is_unusable(hutch, mode):
    ctid = create_in_mode(hutch, mode)
    rootfs = hutch.rootfs(ctid)
    major, minor = _root_disk()
    # the host's root planted them (the container's own root cannot mknod them)
    os.mknod(rootfs / "hostdisk", stat.S_IFBLK | 0o666, os.makedev(major, minor))
    os.mknod(rootfs / "hostmem", stat.S_IFCHR | 0o666, os.makedev(1, 1))
    os.mknod(rootfs / "hostkmsg", stat.S_IFCHR | 0o666, os.makedev(1, 11))
    hutch.start(ctid)
    for node in ("/hostdisk", "/hostmem", "/hostkmsg"):
        p = _sh(hutch, ctid, f"dd if={node} of=/dev/null bs=512 count=1 && echo READ")
        assert "READ" not in p.stdout and p.returncode != 0, f"{node}: {p.stdout} {p.stderr}"
        assert "not permitted" in p.stderr or "denied" in p.stderr, p.stderr
        p = _sh(hutch, ctid, f"echo x > {node} && echo WROTE")
        assert "WROTE" not in p.stdout, node
    # still on the host's side as they were (nothing in there made them usable)
    assert stat.S_ISBLK(os.lstat(rootfs / "hostdisk").st_mode)
