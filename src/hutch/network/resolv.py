"""/etc/resolv.conf inside the container, from its nameserver and searchdomain keys."""

from __future__ import annotations

from hutch.config import ContainerConfig
from hutch.linux.rootpath import RootFileRefused, opened_root, write_file_in_root


def render(cfg: ContainerConfig) -> str:
    lines = ["# written by hutch from the container's config (hutch set --nameserver)"]
    if cfg.network_searchdomain:
        lines.append("search " + " ".join(cfg.network_searchdomain))
    lines += [f"nameserver {ns}" for ns in cfg.network_nameserver]
    return "\n".join(lines) + "\n"


def write_resolv_conf(root: str, cfg: ContainerConfig, strict: bool = True) -> list[str]:
    """Written only when the config names a nameserver or search domain: otherwise the
    template's own file stays as it is. Through hutch.linux.rootpath: a FIFO, device or
    directory at /etc/resolv.conf raises RootFileRefused (strict: `set`), or is skipped with
    a warning returned (a start: the container's junk in its own root must not stop it)."""
    if not (cfg.network_nameserver or cfg.network_searchdomain):
        return []
    with opened_root(root) as rootfd:
        try:
            write_file_in_root(rootfd, "etc/resolv.conf", render(cfg).encode())
        except RootFileRefused as e:
            if strict:
                raise
            return [f"{e}: left as it is"]
    return []
