"""/etc/resolv.conf inside the container, from its nameserver and searchdomain keys."""

from __future__ import annotations

import os

from hutch.config import ContainerConfig
from hutch.linux import syscalls as sc
from hutch.linux.rootpath import write_file_in_root


def render(cfg: ContainerConfig) -> str:
    lines = ["# written by hutch from the container's config (hutch set --nameserver)"]
    if cfg.network_searchdomain:
        lines.append("search " + " ".join(cfg.network_searchdomain))
    lines += [f"nameserver {ns}" for ns in cfg.network_nameserver]
    return "\n".join(lines) + "\n"


def write_resolv_conf(root: str, cfg: ContainerConfig) -> None:
    """Written only when the config names a nameserver or search domain: otherwise the
    template's own file stays as it is."""
    if not (cfg.network_nameserver or cfg.network_searchdomain):
        return
    rootfd = os.open(root, sc.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        write_file_in_root(rootfd, "etc/resolv.conf", render(cfg).encode())
    finally:
        os.close(rootfd)
