"""The container mount plan, read as data (no root needed)."""

from __future__ import annotations

from hutch.container.mounts import (
    DEFAULT_DEVICES,
    Mask,
    Mount,
    ReadOnly,
    Symlink,
    Writable,
    container_plan,
)
from hutch.linux import syscalls as sc


def _by_target(plan):
    return {op.path if isinstance(op, Symlink) else op.target: op for op in plan}


def test_plan_has_fresh_proc_readonly_sys_and_tmpfs_dev():
    ops = _by_target(container_plan("/dev/pts/7"))
    assert ops["proc"].fstype == "proc"
    assert ops["sys"].fstype == "sysfs"
    assert ops["sys"].flags & sc.MS_RDONLY
    assert ops["dev"].fstype == "tmpfs"
    assert "newinstance" in ops["dev/pts"].data
    assert ops["dev/shm"].fstype == "tmpfs"
    assert ops["dev/mqueue"].fstype == "mqueue"


def test_plan_binds_only_the_allowed_devices_and_the_console():
    plan = container_plan("/dev/pts/7")
    binds = [op for op in plan if isinstance(op, Mount) and op.fstype is None]
    assert sorted(op.target for op in binds) == sorted(
        [f"dev/{d}" for d in DEFAULT_DEVICES] + ["dev/console"]
    )
    console = _by_target(plan)["dev/console"]
    assert console.source == "/dev/pts/7" and console.file


def test_plan_without_console_has_no_console_bind():
    assert "dev/console" not in _by_target(container_plan(None))


def test_devices_come_before_their_masks_and_readonly_paths_last():
    plan = container_plan(None)
    kinds = [type(op) for op in plan]
    first_mask = kinds.index(Mask)
    assert all(k in (Mount, Symlink) for k in kinds[:first_mask])
    assert kinds[-2] is ReadOnly and kinds[-1] is Writable


def test_only_the_network_sysctls_are_writable_again_after_proc_sys_went_read_only():
    plan = container_plan(None)
    targets = [op.target for op in plan if isinstance(op, (ReadOnly, Writable))]
    assert [op.target for op in plan if isinstance(op, Writable)] == ["proc/sys/net"]
    assert targets.index("proc/sys") < targets.index("proc/sys/net")
    shared = container_plan(None, own_net=False)
    assert not any(isinstance(op, Writable) for op in shared)


def test_opt_in_devices_and_lxcfs_files_are_bound():
    from hutch.security import devices

    extra = devices.nodes(("fuse", "tun"))
    plan = _by_target(container_plan(None, DEFAULT_DEVICES + extra, ("meminfo",)))
    assert plan["dev/fuse"].source == "/dev/fuse" and plan["dev/net/tun"].source == "/dev/net/tun"
    assert plan["proc/meminfo"].source == "/var/lib/lxcfs/proc/meminfo"
    # lxcfs goes on top of /proc after its masks
    assert list(plan).index("proc/meminfo") > list(plan).index("proc/kcore")


def test_masks_and_readonly_paths():
    targets = {op.target for op in container_plan(None) if isinstance(op, Mask)}
    assert {"proc/sysrq-trigger", "proc/kcore", "proc/kmsg", "sys/firmware"} <= targets
    ro = {op.target for op in container_plan(None) if isinstance(op, ReadOnly)}
    assert "proc/sys" in ro


def test_ptmx_points_into_the_private_devpts():
    ptmx = _by_target(container_plan(None))["dev/ptmx"]
    assert isinstance(ptmx, Symlink) and ptmx.target == "pts/ptmx"


def test_every_op_describes_itself():
    for op in container_plan("/dev/pts/1"):
        text = op.describe()
        assert text and "/" in text
