"""A container's confinement, read from its config: hutch.security takes plain values, the
translation from ContainerConfig lives here (ARCHITECTURE.md, layers)."""

from __future__ import annotations

from hutch.security import confine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.config import ContainerConfig


def record_of(cfg: ContainerConfig) -> dict:
    """The capabilities and seccomp filter `cfg` starts with, as the run state keeps them."""
    unconfined = cfg.security_seccomp == "unconfined"
    return confine.record(
        cfg.security_cap_drop,
        cfg.security_cap_keep,
        privileged=cfg.idmap is None,
        seccomp_deny=None if unconfined else cfg.security_seccomp_deny,
    )
