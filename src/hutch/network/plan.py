"""The network plan of a container (pure): its interfaces with every name and MAC
decided, stable across restarts for one container of one hutch root. hutch.container
(netplan) reads the config and calls `build`."""

from __future__ import annotations

from collections.abc import Sequence

from hutch.network.modes import venet as venet_mode
from hutch.network.modes import veth
from hutch.network.modes.macvlan import DEFAULT_MODE
from hutch.network.names import host_name, stable_mac
from hutch.network.spec import IPAddress, Netif, NetifPlan, NetworkPlan, VenetPlan


def build(
    ctid: str,
    root: str,
    netifs: Sequence[Netif] = (),
    venet_addresses: Sequence[IPAddress] = (),
    netdevs: Sequence[str] = (),
    own_netns: bool = True,
) -> NetworkPlan:
    plans = []
    for i, n in enumerate(netifs):
        plans.append(
            NetifPlan(
                ifname=n.ifname,
                type=n.type,
                mac=n.mac or stable_mac(root, ctid, n.ifname),
                host_ifname=n.host_ifname or host_name(veth.HOST_PREFIX, ctid, i, root),
                host_mac=n.host_mac or stable_mac(root, ctid, n.ifname, "host"),
                bridge=n.bridge,
                link=n.link,
                mode=n.mode or DEFAULT_MODE,
                vlan=n.vlan,
                ip=n.ip,
                gateway=n.gateway,
                mtu=n.mtu,
                nat=n.nat,
            )
        )
    venet = None
    venet_host = host_name(venet_mode.HOST_PREFIX, ctid, None, root)
    if venet_addresses:
        venet = VenetPlan(
            host=venet_host,
            mac=stable_mac(root, ctid, venet_mode.INSIDE),
            addresses=tuple(venet_addresses),
        )
    return NetworkPlan(
        ctid=ctid,
        netifs=tuple(plans),
        venet=venet,
        venet_host=venet_host,  # the host end's name, also when a live change made it
        netdevs=tuple(netdevs),
        own_netns=own_netns,
    )
