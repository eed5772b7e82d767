"""Small netlink helpers the setup and every mode share (pyroute2's IPRoute is passed in;
pyroute2 itself is imported by the worker bodies, never at import time)."""

from __future__ import annotations

import os
from typing import Any

from hutch.errors import NotFound

IFF_NOARP = 0x80
NTF_PROXY = 0x08
SCOPE_LINK = 253
HUTCH_ALIAS = "created by hutch"


def setns_pid(pid: int) -> None:
    from hutch.linux import syscalls as sc

    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(fd, sc.CLONE_NEWNET, f"net of {pid}")
    finally:
        os.close(fd)


def setns_host(host_fd: int) -> None:
    from hutch.linux import syscalls as sc

    sc.setns(host_fd, sc.CLONE_NEWNET, "host net")


def idx(ip: Any, name: str) -> int:
    found = ip.link_lookup(ifname=name)
    if not found:
        raise OSError(f"no interface {name}")
    return int(found[0])


def exists(ip: Any, name: str) -> bool:
    return bool(ip.link_lookup(ifname=name))


def host_idx(ip: Any, name: str, what: str) -> int:
    found = ip.link_lookup(ifname=name)
    if not found:
        raise NotFound(f"{what}: the host has no network interface {name}")
    return int(found[0])


def inner_mac(pid: int, ifname: str) -> str | None:
    """The MAC of `ifname` inside the network namespace of process `pid` (None if absent)."""
    from pyroute2 import IPRoute

    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns_pid(pid)
        try:
            with IPRoute() as ip:
                found = ip.link_lookup(ifname=ifname)
                return ip.get_links(found[0])[0].get_attr("IFLA_ADDRESS") if found else None
        finally:
            setns_host(host_fd)
    finally:
        os.close(host_fd)
