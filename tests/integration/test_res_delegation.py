"""Cgroup delegation: the container sees its own group as the root of every hierarchy, may
manage groups below it (as systemd does), and cannot reach its limits one level up."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def ct(hutch_root) -> str:
    ctid = hutch_root.new_id()
    hutch_root.create(ctid)
    hutch_root.ok("set", ctid, "--numproc", "64", "--memory", "96M", "--save")
    hutch_root.start(ctid)
    return ctid


def test_every_hierarchy_shows_the_container_group_as_root(hutch, ct):
    lines = hutch.ok("exec", ct, "cat", "/proc/1/cgroup").stdout.splitlines()
    assert lines and all(line.endswith(":/") for line in lines), lines


def test_sys_fs_cgroup_is_mounted_inside(hutch, ct):
    mounts = hutch.ok("exec", ct, "cat", "/proc/mounts").stdout.splitlines()
    cg = [m.split() for m in mounts if m.split()[1].startswith("/sys/fs/cgroup")]
    assert cg, mounts
    fstypes = {m[2] for m in cg}
    assert fstypes <= {"tmpfs", "cgroup", "cgroup2"}
    top = [m for m in cg if m[1] == "/sys/fs/cgroup"]
    if top[0][2] == "tmpfs":  # a v1 host: the directory of mounts itself is read-only
        assert top[0][3].startswith("ro,")
        err = hutch.run("exec", ct, "touch", "/sys/fs/cgroup/x")
        assert err.returncode != 0


def test_init_is_in_the_root_group_it_sees(hutch, ct):
    procs_file = hutch.ok(
        "exec",
        ct,
        "sh",
        "-c",
        "ls /sys/fs/cgroup/unified/cgroup.procs 2>/dev/null || echo /sys/fs/cgroup/cgroup.procs",
    ).stdout.strip()
    procs = hutch.ok("exec", ct, "cat", procs_file.splitlines()[0]).stdout.split()
    assert "1" in procs


def test_the_container_manages_groups_below_its_root(hutch, ct):
    base = hutch.ok(
        "exec",
        ct,
        "sh",
        "-c",
        "if [ -d /sys/fs/cgroup/pids ]; then echo /sys/fs/cgroup/pids; "
        "else echo /sys/fs/cgroup; fi",
    ).stdout.strip()
    hutch.ok("exec", ct, "sh", "-c", f"mkdir {base}/svc && echo $$ > {base}/svc/cgroup.procs")
    # the group appeared on the host below the container's inner group
    host_dirs = [d / "ct" / "svc" for d in hutch.cgroup_dirs(ct) if (d / "ct" / "svc").is_dir()]
    assert host_dirs
    hutch.ok("exec", ct, "rmdir", f"{base}/svc")


def test_limits_one_level_up_are_out_of_reach(hutch, ct):
    # the limit sits on the container's group, above what the container can see
    out = hutch.ok(
        "exec",
        ct,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ).stdout.strip()
    assert out == "max"  # the namespace root is unlimited itself; the 64 is one level up
    host_limit = [d / "pids.max" for d in hutch.cgroup_dirs(ct) if (d / "pids.max").exists()]
    assert host_limit and host_limit[0].read_text().strip() == "64"
