"""From a container's config to what hutch.network takes: the network plan, its NAT
rules, its resolv.conf and the addresses `list` shows. hutch.network knows nothing of the
config; this is the one place that reads its network keys for it."""

from __future__ import annotations

from hutch.config import ContainerConfig
from hutch.network import modes
from hutch.network import plan as _plan
from hutch.network.spec import NetworkPlan

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.network.nat import Rule


def own_netns(cfg: ContainerConfig) -> bool:
    """The container has a network namespace of its own (not network.mode = host)."""
    return modes.own_netns(cfg.network_mode)


def network_plan(cfg: ContainerConfig, root: str) -> NetworkPlan:
    return _plan.build(
        cfg.ctid,
        root,
        netifs=list(cfg.network_netif),
        venet_addresses=list(cfg.network_ip_address),
        netdevs=cfg.network_netdev,
        own_netns=own_netns(cfg),
    )


def nat_rules(cfg: ContainerConfig, plan: NetworkPlan | None = None) -> list[Rule]:
    """The nft rules of its forwards and nat=yes netifs (`plan`: its plan, if made; the
    rules need none of the names a plan makes up)."""
    from hutch.network import nat  # `list` reads addresses here: it needs no nft

    if plan is None:
        plan = network_plan(cfg, "/")
    return nat.rules_for(plan, list(cfg.network_forward))


def write_resolv_conf(root: str, cfg: ContainerConfig, strict: bool = True) -> list[str]:
    from hutch.network import resolv

    return resolv.write_resolv_conf(
        root,
        list(cfg.network_nameserver),
        cfg.network_searchdomain,
        strict=strict,
    )


def addresses(cfg: ContainerConfig) -> list[str]:
    """The container's addresses as `list` shows them: venet first (as vzlist), then netifs."""
    out = [str(a) for a in cfg.network_ip_address]
    for netif in cfg.network_netif:
        out += [str(ip.ip) for ip in netif.ip]
    return out
