"""devices: which device nodes a container may open (hutch.security.devices has the list).

v1: the devices controller. A group can only be switched to deny-by-default while it has no
children, so the driver does that when it creates the container's group, before the inner one;
`apply_v1` then makes the exceptions of both groups exactly the rules (a `deny` of an exception
reaches the children, an `allow` does not, hence both).

v2: a BPF_PROG_TYPE_CGROUP_DEVICE program on the container's group, attached with
BPF_F_ALLOW_MULTI so an init inside (systemd) can add its own, narrower ones below; a new
program replaces the one hutch attached before.
"""

from __future__ import annotations

import os
from pathlib import Path

from hutch.cgroups import knobs
from hutch.errors import OperationFailed
from hutch.linux import bpf
from hutch.security.devices import DeviceRule, program

ALLOW_ALL = "a *:* rwm"


def deny_all_v1(group: Path) -> None:
    """Switch a new group (no children yet) to deny every device."""
    if ALLOW_ALL in (knobs.read(group, "devices.list") or "").splitlines():
        knobs.write(group, "devices.deny", "a")


def apply_v1(group: Path, inner: Path, rules: tuple[DeviceRule, ...]) -> None:
    wanted = [r.v1() for r in rules]
    for g in (group, inner):
        if not g.is_dir():
            continue
        listed = (knobs.read(g, "devices.list") or "").splitlines()
        if ALLOW_ALL in listed:
            raise OperationFailed(f"{g} allows every device: it was not created by hutch")
        for line in listed:
            if line and line not in wanted:
                knobs.write(g, "devices.deny", line)
        for line in wanted:
            if line not in listed:
                knobs.write(g, "devices.allow", line)


def apply_v2(group: Path, rules: tuple[DeviceRule, ...]) -> None:
    try:
        gfd = os.open(group, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise OperationFailed(f"cannot open {group}: {e.strerror}") from None
    try:
        old = bpf.prog_query(gfd, bpf.BPF_CGROUP_DEVICE)
        pfd = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, program(rules))
        try:
            bpf.prog_attach(gfd, pfd, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI)
        finally:
            os.close(pfd)
        for prog_id in old:  # only now: never a moment with no program
            ofd = bpf.prog_get_fd_by_id(prog_id)
            try:
                bpf.prog_detach(gfd, ofd, bpf.BPF_CGROUP_DEVICE)
            finally:
                os.close(ofd)
    except OSError as e:
        raise OperationFailed(f"cannot set the device program of {group}: {e}") from None
    finally:
        os.close(gfd)
