"""Rootfs backends (dir, overlay, image), clone, snapshots and the disk quota, as root."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

BACKENDS = ("dir", "overlay", "image")


def _loop_files() -> list[str]:
    found = []
    for dev in Path("/sys/block").glob("loop*"):
        with_file = dev / "loop" / "backing_file"
        if with_file.exists():
            found.append(with_file.read_text().strip())
    return found


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(path) in line]


def _create(hutch, backend: str, *extra: str) -> str:
    ctid = hutch.new_id()
    t = time.monotonic()
    hutch.ok("create", ctid, "--backend", backend, *extra)
    print(f"create {backend}: {time.monotonic() - t:.3f}s")
    return ctid


@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_create_start_exec_destroy(hutch, backend):
    ctid = _create(hutch, backend)
    ctdir = hutch.paths.ct_dir(ctid)
    assert hutch.json("config", ctid)["storage.backend"] == backend
    hutch.start(ctid)
    assert hutch.ok("exec", ctid, "hostname").stdout == f"{ctid}\n"
    hutch.ok("exec", ctid, "sh -c 'echo data > /root-file'")
    # the root is mounted in the container's namespace only: the host sees nothing
    assert _mounts_under(ctdir) == []
    if backend == "dir":
        assert (ctdir / "rootfs/root-file").read_text() == "data\n"
    else:
        assert not (ctdir / "rootfs/root-file").exists()
    if backend == "overlay":
        assert (ctdir / "upper/root-file").read_text() == "data\n"
    if backend == "image":
        assert str(ctdir / "root.img") in _loop_files()
    hutch.ok("stop", "--kill", ctid)
    if backend == "image":  # autoclear: the device went with the namespace
        hutch.wait_until(lambda: str(ctdir / "root.img") not in _loop_files(), 5, "loop detach")
    hutch.start(ctid)  # the data is still there
    assert hutch.ok("exec", ctid, "cat", "/root-file").stdout == "data\n"
    hutch.ok("stop", "--kill", ctid)
    hutch.ok("destroy", ctid)
    assert not ctdir.exists()
    assert not [f for f in _loop_files() if str(hutch.root) in f]
    assert _mounts_under(hutch.root) == []


def test_overlay_clone_is_independent_and_shares_the_lower_layer(hutch):
    src = _create(hutch, "overlay")
    dst = hutch.new_id()
    t = time.monotonic()
    hutch.ok("clone", src, dst)
    print(f"clone overlay: {time.monotonic() - t:.3f}s")
    assert hutch.json("config", dst)["hostname"] == dst
    hutch.start(src)
    hutch.start(dst)
    hutch.ok("exec", dst, "sh -c 'echo mine > /only-in-clone'")
    assert hutch.run("exec", src, "cat", "/only-in-clone").returncode != 0
    assert hutch.ok("exec", dst, "hostname").stdout == f"{dst}\n"
    # one template layer under both: the same inode behind a template file
    inodes = {hutch.ok("exec", c, "stat", "-c", "%i", "/bin/busybox").stdout for c in (src, dst)}
    assert len(inodes) == 1, inodes
    # a running source is refused
    assert "running" in hutch.fails("clone", src, hutch.new_id())


@pytest.mark.parametrize("backend", ("dir", "image"))
def test_clone_copies_the_data(hutch, backend):
    src = _create(hutch, backend)
    hutch.start(src)
    hutch.ok("exec", src, "sh -c 'echo before > /kept'")
    hutch.ok("stop", "--kill", src)
    dst = hutch.new_id()
    hutch.ok("clone", src, dst)
    hutch.start(dst)
    assert hutch.ok("exec", dst, "cat", "/kept").stdout == "before\n"
    hutch.ok("exec", dst, "sh -c 'echo after > /kept'")
    hutch.start(src)
    assert hutch.ok("exec", src, "cat", "/kept").stdout == "before\n"


def test_image_quota_enospc_and_grow(hutch):
    ctid = _create(hutch, "image", "--diskspace", "40M:48M", "--diskinodes", "2000:3000")
    hutch.start(ctid)
    p = hutch.run("exec", ctid, "dd if=/dev/zero of=/big bs=1M count=80")
    assert p.returncode != 0
    assert "No space left on device" in p.stderr + p.stdout
    assert os.statvfs(hutch.root).f_bavail > 0  # the host is fine
    quota = hutch.json("quota", ctid)
    assert quota["quota"] is True
    assert quota["hard_bytes"] == 48 << 20
    assert quota["used_bytes"] > 40 << 20
    assert quota["hard_inodes"] == 3000
    out = hutch.ok("quota", ctid).stdout
    assert out.splitlines()[0].split() == ["resource", "usage", "softlimit", "hardlimit"]
    assert "shrink" in hutch.fails("set", ctid, "--diskspace", "10M", "--save")
    hutch.ok("exec", ctid, "rm", "/big")
    grow = hutch.run("set", ctid, "--diskspace", "100M:120M")
    if grow.returncode != 0:  # online resize needs CAP_SYS_RESOURCE
        assert "CAP_SYS_RESOURCE" in grow.stderr, grow.stderr
        print("live grow unavailable here:", grow.stderr.strip())
        hutch.ok("stop", "--kill", ctid)
        hutch.ok("set", ctid, "--diskspace", "100M:120M", "--save")
        hutch.start(ctid)
    else:
        hutch.ok("set", ctid, "--diskspace", "100M:120M", "--save")
    hutch.ok("exec", ctid, "dd if=/dev/zero of=/big bs=1M count=80")
    assert hutch.json("quota", ctid)["hard_bytes"] == 120 << 20
    rows = hutch.json("list", ctid, "-o", "ctid,diskspace")
    assert rows[0]["diskspace"] > 80 << 20


def test_quota_of_a_dir_container_is_measured_only(hutch):
    ctid = _create(hutch, "dir")
    out = hutch.ok("quota", ctid).stdout
    assert "no disk quota" in out
    assert hutch.json("quota", ctid)["used_bytes"] > 0
    hutch.start(ctid)
    p = hutch.ok("set", ctid, "--diskspace", "100M")  # kept, with a warning, not refused
    assert "the dir backend has no disk quota" in p.stdout + p.stderr
    hutch.ok("stop", "--kill", ctid)


@pytest.mark.parametrize("backend", BACKENDS)
def test_snapshot_round_trip(hutch, backend):
    ctid = _create(hutch, backend)
    hutch.start(ctid)
    hutch.ok("exec", ctid, "sh -c 'echo precious > /file'")
    hutch.ok("stop", "--kill", ctid)
    hutch.ok("snapshot", ctid, "create", "s1")
    assert "already exists" in hutch.fails("snapshot", ctid, "create", "s1")
    snaps = hutch.json("snapshot", ctid, "list")
    assert [s["name"] for s in snaps] == ["s1"] and snaps[0]["size"] > 0
    assert "s1" in hutch.ok("snapshot", ctid, "list").stdout
    hutch.start(ctid)
    if backend == "image":  # its file system is written by the kernel: copied only at rest
        assert "running" in hutch.fails("snapshot", ctid, "create", "live")
    else:  # a tree is copied file by file, running or not
        hutch.ok("snapshot", ctid, "create", "live")
        hutch.ok("snapshot", ctid, "delete", "live")
    hutch.ok("exec", ctid, "rm", "/file")
    assert "running" in hutch.fails("snapshot", ctid, "restore", "s1")
    hutch.ok("stop", "--kill", ctid)
    hutch.ok("snapshot", ctid, "restore", "s1")
    hutch.start(ctid)
    assert hutch.ok("exec", ctid, "cat", "/file").stdout == "precious\n"
    hutch.ok("stop", "--kill", ctid)
    hutch.ok("snapshot", ctid, "delete", "s1")
    assert hutch.json("snapshot", ctid, "list") == []
    assert "no snapshot" in hutch.fails("snapshot", ctid, "delete", "s1")


@pytest.mark.parametrize("backend", ("dir", "overlay"))
def test_a_saved_hostname_reaches_a_root_on_the_host_at_rest(hutch, backend):
    """dir: the rootfs is the data, so `set --save` on a stopped container writes its
    /etc/hostname at once; an overlay root exists only in its init's mount namespace (the
    init writes the file at every start)."""
    ctid = _create(hutch, backend)
    hutch.ok("set", ctid, "--hostname", "rest.example", "--save")
    written = hutch.rootfs(ctid) / "etc/hostname"
    if backend == "dir":
        assert written.read_text() == "rest.example\n"
    else:
        assert not written.exists()  # the empty mount point
    hutch.start(ctid)
    assert hutch.ok("exec", ctid, "hostname").stdout == "rest.example\n"
    hutch.ok("stop", "--kill", ctid)
