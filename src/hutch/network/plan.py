"""What a container's network needs, from its config: a JSON-able plan for the workers."""

from __future__ import annotations

from typing import Any

from hutch.config import ContainerConfig
from hutch.config.netspec import host_name, parse_netif, stable_mac


def network_plan(cfg: ContainerConfig, root: str) -> dict[str, Any]:
    netifs = []
    for i, text in enumerate(cfg.network_netif):
        n = parse_netif(text)
        netifs.append(
            {
                "ifname": n.ifname,
                "type": n.type,
                "mac": n.mac or stable_mac(root, cfg.ctid, n.ifname),
                "host_ifname": n.host_ifname or host_name("veth", cfg.ctid, i, root),
                "host_mac": n.host_mac or stable_mac(root, cfg.ctid, n.ifname, "host"),
                "bridge": n.bridge,
                "link": n.link,
                "mode": n.mode or "bridge",
                "vlan": n.vlan,
                "ip": list(n.ip),
                "gateway": list(n.gateway),
                "mtu": n.mtu,
                "nat": n.nat,
            }
        )
    venet = None
    venet_host = host_name("vn", cfg.ctid, None, root)
    if cfg.network_ip_address:
        venet = {
            "host": venet_host,
            "mac": stable_mac(root, cfg.ctid, "venet0"),
            "addresses": list(cfg.network_ip_address),
        }
    return {
        "ctid": cfg.ctid,
        "netifs": netifs,
        "venet": venet,
        "venet_host": venet_host,  # the host end's name, also when a live change made it
        "netdevs": list(cfg.network_netdev),
    }


def has_network(plan: dict[str, Any]) -> bool:
    return bool(plan["netifs"] or plan["venet"] or plan["netdevs"])


def addresses(cfg: ContainerConfig) -> list[str]:
    """The container's addresses as `list` shows them: venet first (as vzlist), then netifs."""
    out = list(cfg.network_ip_address)
    for text in cfg.network_netif:
        out += [ip.split("/")[0] for ip in parse_netif(text).ip]
    return out
