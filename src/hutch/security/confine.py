"""Capabilities and seccomp applied together, to the init and to every exec'd process.

`record(...)` is what a start keeps in the run state (plain JSON, the filter program compiled by
libseccomp in base64); `prepare(record)` turns it into what the child needs (capability
numbers, the program's bytes) before the fork; `apply`
runs in the child right before execve and only makes system calls: no import, no allocation
of note, so it works after pivot_root or chroot into the container.
"""

from __future__ import annotations

import base64

from hutch.linux import syscalls as sc


class Confinement:
    """The capabilities to drop and the seccomp program (None: unconfined)."""

    __slots__ = ("cap_drop", "seccomp")

    def __init__(self, cap_drop: tuple[int, ...], seccomp: bytes | None) -> None:
        self.cap_drop = cap_drop
        self.seccomp = seccomp

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Confinement) and (self.cap_drop, self.seccomp) == (
            other.cap_drop,
            other.seccomp,
        )

    def __hash__(self) -> int:
        return hash((self.cap_drop, self.seccomp))

    def __repr__(self) -> str:
        size = "unconfined" if self.seccomp is None else f"{len(self.seccomp) // 8} insns"
        return f"Confinement(cap_drop={self.cap_drop!r}, seccomp={size})"


def record(
    cap_drop: tuple[str, ...],
    cap_keep: tuple[str, ...],
    *,
    privileged: bool,
    seccomp_deny: tuple[str, ...] | None,
) -> dict:
    """The confinement a container starts with, as the run state keeps it (`seccomp_deny`
    None: no seccomp filter; hutch.container.confinement reads these from the config)."""
    from hutch.security.capabilities import dropped

    caps = dropped(cap_drop, cap_keep, privileged=privileged)
    rec: dict = {"cap_drop": list(caps)}
    rec["deny"] = None
    if seccomp_deny is not None:
        from hutch.security.seccomp import build

        rec["deny"] = list(seccomp_deny)
        # compiled once, here: `exec` loads these bytes and never imports libseccomp
        rec["seccomp"] = base64.b64encode(build(tuple(rec["deny"]))).decode("ascii")
    return rec


def prepare(rec: dict | None) -> Confinement | None:
    """What `apply` needs, from a record (None or {}: a container started before hutch
    confined containers, which `exec` joins as it is)."""
    if not rec:
        return None
    from hutch.security.capabilities import cap_last_cap

    last = cap_last_cap()
    caps = tuple(c for c in rec.get("cap_drop", ()) if c <= last)
    deny = rec.get("deny")
    if deny is None:
        return Confinement(caps, None)
    if "seccomp" in rec:
        return Confinement(caps, base64.b64decode(rec["seccomp"]))
    # started by a hutch that kept only the names: compile them as it did
    from hutch.security.seccomp import build

    return Confinement(caps, build(tuple(deny)))


def apply(conf: Confinement) -> None:  # pragma: no cover - runs in the container's child
    """Drop the capabilities and load the filter; the caller execs next.

    The bounding set limits what execve grants root; the inheritable and ambient sets are
    cleared of the same so nothing carries them across execve either. The filter goes last:
    loading it needs CAP_SYS_ADMIN (no no_new_privs), and it is inherited by every child.

    RLIMIT_RTPRIO goes to 0: without CAP_SYS_NICE in the host's user namespace, which no
    container has, that limit alone decides whether SCHED_FIFO/RR (which no cgroup CPU
    limit holds back) is allowed, and hutchd or the operator's shell may pass on a high one.
    Raising it again needs CAP_SYS_RESOURCE there too."""
    sc.setrlimit(sc.RLIMIT_RTPRIO, 0, 0)
    for cap in conf.cap_drop:
        sc.capbset_drop(cap)
    sc.cap_ambient_clear_all()
    if conf.cap_drop:
        mask = 0
        for cap in conf.cap_drop:
            mask |= 1 << cap
        effective, permitted, inheritable = sc.capget()
        if inheritable & mask:
            sc.capset(effective, permitted, inheritable & ~mask)
    if conf.seccomp is not None:
        sc.seccomp_set_mode_filter(conf.seccomp)
