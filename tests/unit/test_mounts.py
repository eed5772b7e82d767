"""The container mount plan, read as data (no root needed)."""

from __future__ import annotations

import os

import pytest

from hutch.container.mounts import (
    DEFAULT_DEVICES,
    Mask,
    Mount,
    Node,
    ReadOnly,
    Symlink,
    Writable,
    console_plan,
    container_plan,
    outside_plan,
)
from hutch.linux import syscalls as sc


def _by_target(plan):
    return {op.path if isinstance(op, Symlink) else op.target: op for op in plan}


def test_plan_has_fresh_proc_readonly_sys_and_tmpfs_dev():
    ops = _by_target(container_plan())
    assert ops["proc"].fstype == "proc"
    assert ops["sys"].fstype == "sysfs"
    assert ops["sys"].flags & sc.MS_RDONLY
    assert "newinstance" in ops["dev/pts"].data
    assert ops["dev/shm"].fstype == "tmpfs"
    assert ops["dev/mqueue"].fstype == "mqueue"
    outside = _by_target(outside_plan())
    assert outside["dev"].fstype == "tmpfs" and not outside["dev"].flags & sc.MS_NODEV
    assert "sys" not in outside  # a sysfs of the container's own network: mounted inside


def test_host_network_gets_a_sysfs_mounted_outside():
    assert "sys" not in _by_target(container_plan(own_net=False))
    assert _by_target(outside_plan(own_net=False))["sys"].fstype == "sysfs"


def test_only_the_allowed_devices_are_made_for_the_containers_root():
    plan = outside_plan(DEFAULT_DEVICES, owner=1000000)
    nodes = [op for op in plan if isinstance(op, Node)]
    assert sorted(op.target for op in nodes) == sorted(f"dev/{d}" for d in DEFAULT_DEVICES)
    assert all(op.uid == op.gid == 1000000 and op.mode == 0o666 for op in nodes)
    assert _by_target(plan)["dev/null"].rdev == os.makedev(1, 3)
    assert "uid=1000000" in _by_target(plan)["dev"].data
    binds = [op for op in container_plan() if isinstance(op, Mount) and op.fstype is None]
    assert binds == []
    (console,) = console_plan("/dev/pts/7")
    assert console.target == "dev/console"
    assert console.source == "/dev/pts/7" and console.file


def test_plan_without_console_has_no_console_bind():
    assert console_plan(None) == []


def test_devices_come_before_their_masks_and_readonly_paths_last():
    plan = container_plan()
    kinds = [type(op) for op in plan]
    first_mask = kinds.index(Mask)
    assert all(k in (Mount, Symlink) for k in kinds[:first_mask])
    assert kinds[-2] is ReadOnly and kinds[-1] is Writable


def test_only_the_network_sysctls_are_writable_again_after_proc_sys_went_read_only():
    plan = container_plan()
    targets = [op.target for op in plan if isinstance(op, (ReadOnly, Writable))]
    assert [op.target for op in plan if isinstance(op, Writable)] == ["proc/sys/net"]
    assert targets.index("proc/sys") < targets.index("proc/sys/net")
    shared = container_plan(own_net=False)
    assert not any(isinstance(op, Writable) for op in shared)


def test_opt_in_devices_are_made_and_lxcfs_files_are_bound():
    from hutch.security import devices

    extra = devices.nodes(("fuse", "tun"))
    if not all(os.path.exists(f"/dev/{d}") for d in extra):
        pytest.skip("the host lacks /dev/fuse or /dev/net/tun")
    nodes = _by_target(outside_plan(DEFAULT_DEVICES + extra))
    assert nodes["dev/fuse"].rdev == os.makedev(10, 229)
    assert nodes["dev/net/tun"].rdev == os.makedev(10, 200)
    plan = _by_target(container_plan(("meminfo",)))
    assert plan["proc/meminfo"].source == "/var/lib/lxcfs/proc/meminfo"
    # lxcfs goes on top of /proc after its masks
    assert list(plan).index("proc/meminfo") > list(plan).index("proc/kcore")


def test_a_device_the_host_lacks_is_named():
    with pytest.raises(FileNotFoundError, match="no /dev/nonexistent-dev"):
        outside_plan(("nonexistent-dev",))


def test_masks_and_readonly_paths():
    targets = {op.target for op in container_plan() if isinstance(op, Mask)}
    assert {"proc/sysrq-trigger", "proc/kcore", "proc/kmsg", "sys/firmware"} <= targets
    # issue 12 item 5: the host's sound cards, RAPL energy counters (CVE-2020-8694)
    assert {"proc/asound", "sys/class/powercap", "sys/devices/virtual/powercap"} <= targets
    for own_net in (True, False):  # whoever mounted /sys
        masks = {op.target for op in container_plan(own_net=own_net) if isinstance(op, Mask)}
        assert "sys/devices/virtual/powercap" in masks
    ro = {op.target for op in container_plan() if isinstance(op, ReadOnly)}
    assert "proc/sys" in ro


def test_ptmx_points_into_the_private_devpts():
    ptmx = _by_target(container_plan())["dev/ptmx"]
    assert isinstance(ptmx, Symlink) and ptmx.target == "pts/ptmx"


def test_every_op_describes_itself():
    for op in [*container_plan(), *console_plan("/dev/pts/1")]:
        text = op.describe()
        assert text and "/" in text
