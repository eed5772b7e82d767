"""One module per network mode, behind one interface, chosen through the tables here.

A container's links, in the order a start makes them:

    veth, macvlan, vlan   a netif of that `type=` (hutch.network.spec.NetifPlan)
    venet                 the routed venet0 (VenetPlan)
    phys                  each host NIC lent to it (its name)

Each of those modules has, for its item of the plan:

    host_side(ip, item, pid, held)   make it from the host's namespace (record in `held`)
    inside(ip, item)                 configure it inside the container's namespace
    adopt(ip, item, pid, held)       after a restore: give CRIU's remade host end its setup
    refusal(ctid, item)              why a checkpoint cannot carry it (None: it can)
    host_end(item)                   (name inside, host end's name), or None: no host end
    port(item, record)               its host end for the anti-spoofing filter, or None

and a netif type's also `check(netif)`: the keys that type refuses (config time).
network.mode is the other axis: "private" (the container's own namespace) or "host"
(modes.host: none of its own), read through `own_netns`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hutch.network.modes import host, macvlan, phys, venet, veth, vlan
from hutch.network.spec import NetworkPlan

LINKS: dict[str, Any] = {m.NAME: m for m in (veth, macvlan, vlan)}  # netif type= -> mode
DEFAULT_LINK = veth.NAME
NETNS_MODES = ("private", host.NAME)  # network.mode: the first is the default
DEFAULT_NETNS = NETNS_MODES[0]


def link_mode(type_: str) -> Any:
    return LINKS[type_]


def own_netns(network_mode: str) -> bool:
    """The container has a network namespace of its own (all but the host mode)."""
    return network_mode != host.NAME or host.OWN_NETNS


def links(plan: NetworkPlan) -> Iterator[tuple[Any, Any]]:
    """(mode module, item) for everything the plan makes, in order."""
    for n in plan.netifs:
        yield LINKS[n.type], n
    if plan.venet is not None:
        yield venet, plan.venet
    for dev in plan.netdevs:
        yield phys, dev
