"""NAT and port forwards with nftables: one table per hutch root, rules tagged per container.

    table inet hutch {                                  # hutch_<8 hex> for another --root
        chain prerouting {                              # port forwards from outside
            type nat hook prerouting priority dstnat
            meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 198.18.2.10:80
                comment "hutch:101"
        }
        chain output { ... the same dnat rules ... }    # the host reaching its own address
        chain postrouting {                             # netif nat=yes
            type nat hook postrouting priority srcnat
            ip saddr 198.18.2.0/24 oifname != "br0" masquerade comment "hutch:101"
        }
    }

The rules of a container are derived from its plan and forwards alone (`rules_for`), so starting,
`hutch set` and stopping all work the same way: delete every rule whose comment is
`hutch:<ID>` and add the wanted ones, in one nft transaction (atomic: a failure changes
nothing). The table is created on first use and deleted when its last rule goes. A rule
left by a crash is replaced at the container's next start.

We drive the `nft` command (a script on stdin, JSON out): it is nftables's stable
interface; its netlink messages are not. It runs in the caller's network namespace
(hutchd's, or the CLI's for a live `hutch set`), which is the host's.

The dnat rules match only packets addressed to the host itself (`fib daddr type local`),
so traffic the host routes elsewhere on the same port is left alone. The table has no
filter chain: a forward chain with a drop policy in another table (a host firewall) still
drops forwarded traffic and must allow it itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any

from hutch.errors import InvalidConfig, KernelFeatureMissing, OperationFailed
from hutch.network.spec import Forward, NetRecord, NetworkPlan
from hutch.paths import Paths

__all__ = ["apply", "remove", "rules_for", "table_name"]

NFT_TIMEOUT = 10.0
CHAINS = (
    # name, hook, priority (numbers: nft 1.0.6 refuses `dstnat` on the output hook)
    ("prerouting", "prerouting", -100),
    ("output", "output", -100),
    ("postrouting", "postrouting", 100),
)

Rule = tuple[str, str]  # (chain, rule text without its comment)


def table_name(paths: Paths) -> str:
    """`hutch` for the default root, `hutch_<8 hex>` for another (as its cgroup name)."""
    return paths.cgroup_name.replace("-", "_")


def tag(ctid: str) -> str:
    return f"hutch:{ctid}"


# -- what a container wants --------------------------------------------------------------


def rules_for(plan: NetworkPlan, forwards: Sequence[Forward]) -> list[Rule]:
    """The nft rules a container's plan and forwards ask for (none without a network
    namespace of its own)."""
    if not plan.own_netns:
        return []
    rules: list[Rule] = []
    for fw in forwards:
        target = fw.address or _first_ipv4(plan)
        if target is None:
            raise InvalidConfig(
                f"container {plan.ctid}: forward {forward_text(fw)} needs an IPv4 address "
                "to forward to",
                hint="give the container --ipadd or a netif ip=, or write PROTO:PORT:PORT:ADDR",
            )
        proto, host_port, ct_port = fw.proto, fw.host_port, fw.ct_port
        if target.version == 4:
            to = f"meta nfproto ipv4 fib daddr type local {proto} dport {host_port} "
            to += f"dnat ip to {target}:{ct_port}"
        else:
            to = f"meta nfproto ipv6 fib daddr type local {proto} dport {host_port} "
            to += f"dnat ip6 to [{target}]:{ct_port}"
        rules += [("prerouting", to), ("output", to)]
    for n in plan.netifs:
        if not (n.nat and n.bridge):
            continue
        for iface in n.ip:
            net = iface.network
            family = "ip" if net.version == 4 else "ip6"
            rule = ("postrouting", f'{family} saddr {net} oifname != "{n.bridge}" masquerade')
            if rule not in rules:
                rules.append(rule)
    return rules


def forward_text(fw: Forward) -> str:
    tail = f":{fw.address}" if fw.address is not None else ""
    return f"{fw.proto}:{fw.host_port}:{fw.ct_port}{tail}"


def _first_ipv4(plan: NetworkPlan) -> ipaddress.IPv4Address | None:
    """The address a forward without CTADDR goes to: the first IPv4 venet address, else
    the first IPv4 address of a netif."""
    candidates = list(plan.venet.addresses) if plan.venet else []
    for n in plan.netifs:
        candidates += [i.ip for i in n.ip]
    for a in candidates:
        if isinstance(a, ipaddress.IPv4Address):
            return a
    return None


# -- applying ----------------------------------------------------------------------------


def apply(paths: Paths, ctid: str, rules: list[Rule], record: NetRecord) -> NetRecord:
    """Make the container's rules `rules` (from rules_for: add, replace or delete them) and
    turn on forwarding when there are any. Returns `record` (the network record) with
    `nft` set to the table name while the container has rules."""
    if not rules and not record.nft:
        return record  # nothing wanted, nothing added: nft need not even be installed
    table = table_name(paths)
    with _lock(paths):
        current = _rules(table)
        ours = [r for r in current or [] if r["comment"] == tag(ctid)]
        lines = [f"delete rule inet {table} {r['chain']} handle {r['handle']}" for r in ours]
        if rules:
            lines += _table_lines(table)
            lines += [
                f'add rule inet {table} {chain} {text} comment "{tag(ctid)}"'
                for chain, text in rules
            ]
        elif current is not None and len(ours) == len(current):
            lines = [f"delete table inet {table}"]  # its last rules: the table goes too
        if lines:
            _run(["-f", "-"], "\n".join(lines) + "\n", f"container {ctid}")
    if rules:
        _forwarding(any(t.startswith("ip6 ") or "nfproto ipv6" in t for _, t in rules))
        return record.with_tables(nft=table)
    return record.with_tables(nft=None)


def remove(paths: Paths, ctid: str) -> None:
    """Delete every rule tagged with the container's ID, and the table if it is then empty.
    Already gone (or no nft at all) is fine."""
    if nft_path() is None:
        return
    table = table_name(paths)
    with _lock(paths):
        current = _rules(table)
        if current is None:
            return
        ours = [r for r in current if r["comment"] == tag(ctid)]
        if not ours:
            return
        if len(ours) == len(current):
            script = f"delete table inet {table}\n"
        else:
            script = "".join(
                f"delete rule inet {table} {r['chain']} handle {r['handle']}\n" for r in ours
            )
        _run(["-f", "-"], script, f"container {ctid}")


def _table_lines(table: str) -> list[str]:
    """Create the table and its chains if missing (`add` of an existing one is a no-op)."""
    lines = [f"add table inet {table}"]
    for name, hook, prio in CHAINS:
        lines.append(
            f"add chain inet {table} {name} "
            f"{{ type nat hook {hook} priority {prio}; policy accept; }}"
        )
    return lines


def _rules(table: str) -> list[dict[str, Any]] | None:
    """Every rule of the table (chain, handle, comment), or None if there is no table."""
    p = _run(["-j", "list", "table", "inet", table], None, f"table {table}", missing_ok=True)
    if p is None:
        return None
    out = []
    for item in json.loads(p.stdout or "{}").get("nftables", []):
        rule = item.get("rule")
        if rule:
            out.append(
                {
                    "chain": rule["chain"],
                    "handle": rule["handle"],
                    "comment": rule.get("comment"),
                }
            )
    return out


def nft_path() -> str | None:
    for path in ("/usr/sbin/nft", "/sbin/nft"):
        if os.access(path, os.X_OK):
            return path
    return shutil.which("nft")


def _run(
    args: list[str], script: str | None, what: str, missing_ok: bool = False
) -> subprocess.CompletedProcess[str] | None:
    nft = nft_path()
    if nft is None:
        raise KernelFeatureMissing(
            f"{what}: NAT and port forwards need the nft command", hint="apt-get install nftables"
        )
    try:
        p = subprocess.run(
            [nft, *args],
            input=script,
            stdin=None if script is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=NFT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise OperationFailed(f"{what}: nft did not answer within {NFT_TIMEOUT:g}s") from None
    if p.returncode == 0:
        return p
    if missing_ok and "No such file or directory" in p.stderr:
        return None
    errors = [line for line in p.stderr.splitlines() if line.startswith("Error")]
    message = errors[0] if errors else p.stderr.strip() or f"exit status {p.returncode}"
    if "Operation not supported" in message or "Protocol not supported" in message:
        raise KernelFeatureMissing(f"{what}: nft: {message} (is nf_tables with NAT built?)")
    raise OperationFailed(f"{what}: nft {' '.join(args)}: {message}")


@contextlib.contextmanager
def _lock(paths: Paths) -> Iterator[None]:
    """One root's table is changed by one process at a time: between listing the rules and
    deleting the table when empty, another container must not add its own."""
    path = paths.run / "locks" / "nft.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _forwarding(ipv6: bool) -> None:
    """NAT and forwards route packets through the host: it must forward. Never turned off
    again (something else may rely on it). IPv6 only when asked: forwarding there makes
    Linux ignore router advertisements on every interface."""
    paths = ["/proc/sys/net/ipv4/ip_forward"]
    if ipv6:
        paths.append("/proc/sys/net/ipv6/conf/all/forwarding")
    for path in paths:
        try:
            with open(path) as f:
                if f.read().strip() == "1":
                    continue
            with open(path, "w") as f:
                f.write("1")
        except OSError:
            pass
