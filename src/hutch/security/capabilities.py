"""The capability bounding set of a container.

A container's root keeps most capabilities: a system container mounts, configures its own
network, changes owners and reboots itself. What it loses are the capabilities whose effect is
not confined by any namespace and reaches the whole host. They are removed from the bounding set
(PR_CAPBSET_DROP) in the container's processes before they exec, so no execve, setuid binary
or file capability inside can give them back.
"""

from __future__ import annotations

# <linux/capability.h>
CAPS: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}
CAP_NAMES: dict[int, str] = {number: name for name, number in CAPS.items()}

# Dropped by default, each for a reason. Deliberately KEPT: CAP_SYS_BOOT (reboot(2) in a pid
# namespace only ends the container, and `reboot` inside restarts it through hutchd),
# CAP_SYS_ADMIN in an unprivileged container (mounts and systemd need it; its user namespace
# confines it; see PRIVILEGED_DROP), CAP_NET_ADMIN/NET_RAW (the container's own network
# namespace), CAP_SYS_NICE,
# CAP_SYS_RESOURCE (bounded by the cgroup), CAP_LINUX_IMMUTABLE (chattr +i on its own files),
# CAP_MKNOD (device access is decided by the device policy, not by node creation),
# CAP_SYS_PTRACE and CAP_CHECKPOINT_RESTORE (its own pid namespace), CAP_AUDIT_WRITE (login
# and sshd fail without it), CAP_SYS_TTY_CONFIG (only its own ptys exist inside).
DEFAULT_DROP: dict[str, str] = {
    "CAP_SYS_MODULE": "loads kernel modules: code in the host kernel",
    "CAP_SYS_RAWIO": "raw I/O ports, /dev/mem and raw SCSI: the host's hardware",
    "CAP_SYS_TIME": "sets the system clock, which is the host's (no namespace for it)",
    "CAP_SYS_PACCT": "process accounting (acct) writes records the host configures",
    "CAP_MAC_ADMIN": "changes the LSM policy (AppArmor, SELinux, Smack), which is host-wide",
    "CAP_MAC_OVERRIDE": "overrides the host's LSM policy",
    "CAP_AUDIT_CONTROL": "changes the audit rules, which are host-wide (audit is not namespaced)",
    "CAP_AUDIT_READ": "reads the host's audit log over netlink",
    "CAP_SYSLOG": "reads and clears the host kernel log and unhides kernel pointers",
    "CAP_WAKE_ALARM": "sets wake-up alarms on the host's real-time clock",
    "CAP_BLOCK_SUSPEND": "keeps the host from suspending",
    "CAP_BPF": "loads BPF programs into the host kernel",
    "CAP_PERFMON": "observes every process of the host with perf and BPF tracing",
}


def parse_cap_name(text: str) -> str:
    """`net_raw`, `CAP_NET_RAW` or `cap_net_raw` -> `CAP_NET_RAW`; ValueError if unknown."""
    name = text.strip().upper()
    if not name.startswith("CAP_"):
        name = "CAP_" + name
    if name not in CAPS:
        raise ValueError(f"{text!r} is not a capability name (such as CAP_NET_RAW)")
    return name


def cap_last_cap() -> int:
    """The highest capability this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return max(CAPS.values())


# A privileged container loses CAP_SYS_ADMIN and CAP_SYS_PTRACE too. Its user namespace maps
# every ID to itself (hutch.security.idmap.IDENTITY), so its capabilities are that
# namespace's and the kernel refuses it what it checks in the host's (locked masks stay,
# no fresh proc, no sysctl beyond its own network). But its root is the host's uid 0 to every
# file it can reach and every kernel check made by uid alone, so it keeps fewer powers than
# an unprivileged container's root, whose uid is nobody's on the host.
PRIVILEGED_DROP: dict[str, str] = {
    "CAP_SYS_ADMIN": "mounts over files that belong to the host's own IDs",
    # `hutch exec` enters as the host's Python until its execve, marked not dumpable; the
    # container's root has the host's uid, so only capabilities stand between them
    "CAP_SYS_PTRACE": "a way into processes entering from the host, which share its uid",
}


def dropped(
    cap_drop: tuple[str, ...] = (), cap_keep: tuple[str, ...] = (), privileged: bool = False
) -> tuple[int, ...]:
    """The capability numbers a container loses: the default list (with PRIVILEGED_DROP for
    a privileged container, whose IDs are the host's) plus `cap_drop`, minus `cap_keep` (an explicit
    drop wins over a keep)."""
    default = set(DEFAULT_DROP) | (set(PRIVILEGED_DROP) if privileged else set())
    names = (default - set(cap_keep)) | set(cap_drop)
    return tuple(sorted(CAPS[name] for name in names))
