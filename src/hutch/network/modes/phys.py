"""phys: a host NIC lent to the container (network.netdev), moved into its namespace and
moved back before the namespace goes (hutchd holds it open for that). No host end while
lent; CRIU cannot checkpoint it."""

from __future__ import annotations

from typing import Any

from hutch.network import netlink as nl
from hutch.network.spec import Held, NetRecord, Port

NAME = "phys"


def host_side(ip: Any, dev: str, pid: int, held: Held) -> None:
    ip.link("set", index=nl.host_idx(ip, dev, "netdev"), net_ns_pid=pid)
    held.netdevs.append(dev)


def inside(ip: Any, dev: str) -> None:
    ip.link("set", index=nl.idx(ip, dev), state="up")


def give_back(ip: Any, dev: str, host_fd: int) -> None:
    """From inside the container's namespace: down, and back to the host's (`host_fd`);
    already gone is fine."""
    for idx in ip.link_lookup(ifname=dev):
        ip.link("set", index=idx, state="down")
        ip.link("set", index=idx, net_ns_fd=host_fd)


def adopt(ip: Any, dev: str, pid: int, held: Held) -> None:
    from hutch.errors import StateConflict

    raise StateConflict(refusal("?", dev) or "")


def refusal(ctid: str, dev: str) -> str | None:
    return f"container {ctid}: a host NIC lent with --netdev_add cannot be checkpointed"


def host_end(dev: str) -> tuple[str, str] | None:
    return None


def port(dev: str, record: NetRecord | None) -> Port | None:
    return None
