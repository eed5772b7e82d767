"""Which settings loosen a container's confinement below hutch's defaults, key by key.

A host that receives a container it did not create (a migration target) must not take these
from the sender's config.toml on trust: each needs its own operator's consent there (see
hutch.migrate.receive). Every key of the registry is in exactly one of the two tables below,
and a unit test holds that, so a new key is classified when it is added.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hutch.config.schema import KEY_BY_NAME
from hutch.network.modes import own_netns

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.config.schema import ContainerConfig

# key -> does this value weaken the container's confinement (or reach into the host)?
WEAKENS: Mapping[str, Callable[[Any], bool]] = {
    # IDs not shifted: the container's root is the host's uid 0 to every file it reaches
    "security.privileged": bool,
    # capabilities of the default drop list given back (CAP_SYS_ADMIN, CAP_SYS_MODULE...)
    "security.cap_keep": bool,
    # no seccomp filter: kexec, modules, keyrings, bpf, the new mount API...
    "security.seccomp": lambda v: v != "default",
    # device nodes beyond the default set opened in the container (fuse, tun, ...)
    "security.devices": bool,
    # the host's own network namespace: its links, routes, firewall and ports
    "network.mode": lambda v: not own_netns(v),
    # host NICs moved into the container
    "network.netdev": bool,
    # host ports taken over (a forward of port 22 hides the host's sshd)
    "network.forward": bool,
    # forged MACs and addresses, router advertisements on the target's bridges
    "network.allow_spoof": bool,
}

# keys that never loosen confinement, by name or by table (prefix ending in '.'), each why
SAFE: Mapping[str, str] = {
    "hostname": "inside the container",
    "template": "informational",
    "init": "runs inside the container",
    "stop_signal": "sent inside the container",
    "stop_timeout": "a wait on the host",
    "onboot": "when it starts, not what it may do",
    "description": "free text",
    "environment": "given to the container's init",
    "resources.": "limits only tighten what the container may use",
    "ubc.": "limits only tighten what the container may use",
    "network.ip_address": "routed addresses of the container, checked like any set",
    "network.nameserver": "written inside the container",
    "network.searchdomain": "written inside the container",
    "network.netif": "the container's own interfaces on bridges and links the host has",
    "storage.": "where and how large its files are",
    "security.cap_drop": "drops more",
    "security.seccomp_deny": "refuses more",
    "security.idmap": "which host IDs; chosen by the host that adopts it",
    "security.idmap_base": "chosen (and checked) by the host that adopts it",
}


def is_safe(name: str) -> bool:
    return name in SAFE or any(p.endswith(".") and name.startswith(p) for p in SAFE)


def weakened(cfg: ContainerConfig) -> dict[str, Any]:
    """The keys of `cfg` set to a value that weakens confinement, with those values as
    config.toml writes them (for a message)."""
    out = {}
    for name, weakens in WEAKENS.items():
        value = cfg.get(name)
        if weakens(value):
            out[name] = KEY_BY_NAME[name].plain(value)
    return out
