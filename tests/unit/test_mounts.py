"""The container mount plan, read as data (no root needed)."""

from __future__ import annotations

from hutch.container.mounts import (
    DEFAULT_DEVICES,
    Mask,
    Mount,
    ReadOnly,
    Symlink,
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
    assert kinds[-1] is ReadOnly


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
