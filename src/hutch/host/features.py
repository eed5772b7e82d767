"""Probe the kernel for what containers need, the way lxc-checkconfig lists it — but by trying
(a namespace is unshared, a veth is created in a throwaway network namespace) rather than by
reading a kernel config that may not be there.

Each check is (section, name, status, detail): status "enabled", "missing" or "optional"
(missing, and hutch works without it: the detail says what is lost).

These are the probes of the kernel itself. cgroups, security and CRIU, above this layer, probe
their own features with the same `Check`; hutch.container.checkconfig gathers all of them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from hutch.linux import syscalls as sc


@dataclass(frozen=True)
class Check:
    """One kernel feature as `hutch checkconfig` shows it."""

    section: str
    name: str
    status: str  # enabled | missing | optional
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "section": self.section,
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
        }


def _in_child(fn) -> bool:  # type: ignore[no-untyped-def]
    """Run a probe in a forked child (namespaces and devices die with it)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os._exit(0 if fn() else 1)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def _unshare(flag: int) -> bool:
    def probe() -> bool:
        sc.unshare(flag)
        return True

    return _in_child(probe)


NAMESPACES = (
    ("Mount namespace", sc.CLONE_NEWNS),
    ("Utsname namespace", sc.CLONE_NEWUTS),
    ("Ipc namespace", sc.CLONE_NEWIPC),
    ("Pid namespace", sc.CLONE_NEWPID),
    ("Network namespace", sc.CLONE_NEWNET),
    ("Cgroup namespace", sc.CLONE_NEWCGROUP),
    ("User namespace", sc.CLONE_NEWUSER),
)


def namespaces() -> list[Check]:
    return [
        Check("Namespaces", name, "enabled" if _unshare(flag) else "missing")
        for name, flag in NAMESPACES
    ]


def _filesystems() -> set[str]:
    try:
        with open("/proc/filesystems") as f:
            return {line.split()[-1] for line in f if line.strip()}
    except OSError:
        return set()


def filesystems() -> list[Check]:
    fs = _filesystems()
    out = [
        Check(
            "Filesystems", "Multiple /dev/pts instances", "enabled" if "devpts" in fs else "missing"
        )
    ]
    for name, why in (
        ("overlay", "overlay backend and fast clones"),
        ("ext4", "image backend with disk quota"),
        ("btrfs", "btrfs snapshots"),
    ):
        out.append(
            Check(
                "Filesystems",
                name,
                "enabled" if name in fs else "optional",
                "" if name in fs else f"no {why}",
            )
        )
    return out


def _link_probe(kind: str) -> bool:
    def probe() -> bool:
        sc.unshare(sc.CLONE_NEWNET)
        from pyroute2 import IPRoute

        with IPRoute() as ip:
            if kind == "veth":
                ip.link("add", ifname="p0", kind="veth", peer={"ifname": "p1"})
            elif kind == "bridge":
                ip.link("add", ifname="b0", kind="bridge")
            else:
                ip.link("add", ifname="b0", kind="bridge")
                parent = ip.link_lookup(ifname="b0")[0]
                extra = {"vlan_id": 5} if kind == "vlan" else {}
                ip.link("add", ifname="x0", kind=kind, link=parent, **extra)
        return True

    return _in_child(probe)


def network() -> list[Check]:
    import pyroute2.iproute  # noqa: F401 - once here rather than in every probe child

    out = []
    for kind, name, why in (
        ("veth", "Veth pair device", "veth and venet"),
        ("bridge", "Bridge", "veth on bridges"),
        ("macvlan", "Macvlan", "macvlan interfaces"),
        ("vlan", "Vlan (8021q)", "vlan interfaces"),
        ("ipvlan", "Ipvlan", "nothing hutch uses yet"),
    ):
        ok = _link_probe(kind)
        required = kind in ("veth", "bridge")
        out.append(
            Check(
                "Network",
                name,
                "enabled" if ok else ("missing" if required else "optional"),
                "" if ok else f"no {why}",
            )
        )
    nft = shutil.which("nft")
    out.append(
        Check(
            "Network",
            "nftables (nft)",
            "enabled" if nft else "optional",
            ""
            if nft
            else "no NAT, port forwards or spoofing filter: veth and venet containers need "
            'network.allow_spoof = ["all"] (apt-get install nftables)',
        )
    )
    return out


def interfaces() -> list[Check]:
    """The Misc section's system calls and seccomp; hutch.container.checkconfig puts the whole
    section together (the libseccomp and BPF device program probes are hutch.security's)."""
    out = []
    out.append(Check("Misc", "openat2 (RESOLVE_IN_ROOT)", "enabled" if _openat2() else "missing"))
    out.append(Check("Misc", "pidfd", "enabled" if _pidfd() else "missing"))
    seccomp = _proc_status_field("Seccomp") is not None
    out.append(Check("Misc", "Seccomp", "enabled" if seccomp else "optional"))
    return out


def file_capabilities() -> Check:
    caps = os.path.exists("/proc/sys/kernel/cap_last_cap")
    return Check("Misc", "File capabilities", "enabled" if caps else "missing")


def helpers() -> list[Check]:
    """lxcfs and the tools hutch runs when they are there."""
    out = []
    lxcfs = os.path.exists("/var/lib/lxcfs/proc/meminfo")
    out.append(
        Check(
            "Misc",
            "lxcfs",
            "enabled" if lxcfs else "optional",
            ""
            if lxcfs
            else "free/top inside show the host's totals (apt-get install lxcfs and run it)",
        )
    )
    for tool, why in (
        ("debootstrap", "no `hutch template create`"),
        ("zstd", "no .tar.zst templates"),
        ("mkfs.ext4", "no image backend"),
    ):
        found = shutil.which(tool)
        out.append(Check("Tools", tool, "enabled" if found else "optional", "" if found else why))
    return out


def _openat2() -> bool:
    try:
        fd = sc.openat2(-100, "/", sc.O_PATH, 0, sc.RESOLVE_IN_ROOT)
    except OSError:
        return False
    os.close(fd)
    return True


def _pidfd() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
        return True
    except OSError:
        return False


def _proc_status_field(name: str) -> str | None:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return None
