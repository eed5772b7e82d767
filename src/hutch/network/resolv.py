"""/etc/resolv.conf inside the container, from its nameserver and searchdomain keys."""

from __future__ import annotations

from collections.abc import Sequence

from hutch.linux.rootpath import RootFileRefused, opened_root, write_file_in_root
from hutch.network.spec import IPAddress


def render(nameservers: Sequence[IPAddress], searchdomains: Sequence[str]) -> str:
    lines = ["# written by hutch from the container's config (hutch set --nameserver)"]
    if searchdomains:
        lines.append("search " + " ".join(searchdomains))
    lines += [f"nameserver {ns}" for ns in nameservers]
    return "\n".join(lines) + "\n"


def write_resolv_conf(
    root: str,
    nameservers: Sequence[IPAddress],
    searchdomains: Sequence[str],
    strict: bool = True,
) -> list[str]:
    """Written only when the config names a nameserver or search domain: otherwise the
    template's own file stays as it is. Through hutch.linux.rootpath: a FIFO, device or
    directory at /etc/resolv.conf raises RootFileRefused (strict: `set`), or is skipped with
    a warning returned (a start: the container's junk in its own root must not stop it)."""
    if not (nameservers or searchdomains):
        return []
    with opened_root(root) as rootfd:
        try:
            text = render(nameservers, searchdomains)
            write_file_in_root(rootfd, "etc/resolv.conf", text.encode())
        except RootFileRefused as e:
            if strict:
                raise
            return [f"{e}: left as it is"]
    return []
