"""Capabilities and seccomp applied together, to the init and to every exec'd process.

`record(cfg)` is what a start keeps in the run state (plain JSON); `prepare(record)` turns it
into what the child needs (capability numbers, the filter program) before the fork; `apply`
runs in the child right before execve and only makes system calls: no import, no allocation
of note, so it works after pivot_root or chroot into the container.
"""

from __future__ import annotations

from hutch.linux import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.config import ContainerConfig


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


def record(cfg: ContainerConfig) -> dict:
    """The confinement a container starts with, as the run state keeps it."""
    from hutch.security.capabilities import dropped

    deny = None
    if cfg.security_seccomp != "unconfined":
        deny = list(cfg.security_seccomp_deny)
    return {"cap_drop": list(dropped(cfg.security_cap_drop, cfg.security_cap_keep)), "deny": deny}


def prepare(rec: dict | None) -> Confinement | None:
    """What `apply` needs, from a record (None or {}: a container started before hutch
    confined containers, which `exec` joins as it is)."""
    if not rec:
        return None
    from hutch.security.capabilities import cap_last_cap
    from hutch.security.seccomp import build

    last = cap_last_cap()
    caps = tuple(c for c in rec.get("cap_drop", ()) if c <= last)
    deny = rec.get("deny")
    return Confinement(caps, None if deny is None else build(tuple(deny)))


def apply(conf: Confinement) -> None:  # pragma: no cover - runs in the container's child
    """Drop the capabilities and load the filter; the caller execs next.

    The bounding set limits what execve grants root; the inheritable and ambient sets are
    cleared of the same so nothing carries them across execve either. The filter goes last:
    loading it needs CAP_SYS_ADMIN (no no_new_privs), and it is inherited by every child."""
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
