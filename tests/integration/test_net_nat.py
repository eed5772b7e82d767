"""NAT and port forwards (hutch.network.nat) on the real kernel, in throwaway namespaces.

hutch runs in a "host" network namespace of its own (the CLI is started under
`nsenter --net`, and the hutchd it starts inherits that namespace), joined by a veth pair to
an "outside" namespace that stands in for the world:

    container eth0 198.18.50.2/24 -- hbr0 198.18.50.1/24 [host] up0 198.18.100.1/24
                                                                  |
                                                  [outside] eth0 198.18.100.2/24

The outside has no route to 198.18.50.0/24: the container reaches it only through
masquerade, and is reached from it only through a port forward. The machine's own network
namespace is never touched. hutch gives a bridge no address: the test gives hbr0 the
containers' gateway address itself.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not (os.access("/usr/sbin/nft", os.X_OK) or shutil.which("nft")),
        reason="nft is absent (apt-get install nftables)",
    ),
]

TIMEOUT = 10.0
NETNS = Path("/run/netns")
HOST_OUT, OUTSIDE = "198.18.100.1", "198.18.100.2"
BRIDGE, GATEWAY = "hbr0", "198.18.50.1"

# in the outside namespace: accept one connection, print the peer's address, answer "pong"
SERVER = f"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("{OUTSIDE}", 9000))
s.listen(1)
s.settimeout({TIMEOUT})
print("listening", flush=True)
c, peer = s.accept()
c.sendall(b"pong\\n")
c.close()
print(peer[0], flush=True)
"""


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT)
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def in_ns(ns: str, *argv: str) -> list[str]:
    return ["nsenter", f"--net={NETNS / ns}", *argv]


def in_netns(hutch_root: Any, netns: str) -> Any:
    """The conftest's `Hutch` on the same root, with its CLI (and so the hutchd it starts)
    in the network namespace `netns`."""

    class NsHutch(type(hutch_root)):  # type: ignore[misc]
        def argv(self, *args: object) -> list[str]:
            return in_ns(netns, *super().argv(*args))

    return NsHutch(hutch_root.root)


class Net:
    def __init__(self, hutch: Any, host: str, outside: str) -> None:
        self.hutch, self.host, self.outside = hutch, host, outside

    def hutch_rules(self) -> list[dict]:
        """Every rule in a hutch NAT table of the host namespace (an empty list: no table);
        the netdev tables of the spoofing filter are another story (test_net_filter.py)."""
        out = json.loads(run(*in_ns(self.host, "nft", "-j", "list", "ruleset")).stdout)
        items = [i for i in out["nftables"] if i.get("table", i.get("rule", {})).get("family")]
        items = [i for i in items if i.get("table", i.get("rule"))["family"] == "inet"]
        tables = [i["table"]["name"] for i in items if "table" in i]
        rules = [i["rule"] for i in items if "rule" in i]
        hutch_tables = [t for t in tables if t == "hutch" or t.startswith("hutch_")]
        theirs = [r for r in rules if r["table"] in hutch_tables]
        assert hutch_tables or not theirs
        if hutch_tables:
            assert theirs, f"an empty hutch table was left: {hutch_tables}"
        return theirs

    def fetch(self, ns: str, url: str) -> subprocess.CompletedProcess[str]:
        """GET `url` from namespace `ns` (Python: this busybox's wget crashes)."""
        get = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=3).read().decode())"
        return run(*in_ns(ns, sys.executable, "-c", get), check=False)

    def serve_http(self, ctid: str) -> None:
        self.hutch.ok(
            "exec",
            ctid,
            "mkdir -p /www && echo hello > /www/index.html && "
            "httpd -p 80 -h /www </dev/null >/dev/null 2>&1",
        )


@pytest.fixture(scope="module")
def net(hutch_root: Any) -> Iterator[Net]:
    tag = f"{os.getpid() % 100000}"
    host, outside = f"hutch-nat-h{tag}", f"hutch-nat-o{tag}"
    made: list[str] = []
    h = in_netns(hutch_root, host)
    try:
        for ns in (host, outside):
            run("ip", "netns", "add", ns)
            made.append(ns)
        ip_h, ip_o = ("ip", "-n", host), ("ip", "-n", outside)
        # the veth is made in the host namespace with its peer straight in the outside one
        run(*ip_h, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", outside)
        run(*ip_h, "link", "add", BRIDGE, "type", "bridge")
        run(*ip_h, "addr", "add", f"{HOST_OUT}/24", "dev", "up0")
        run(*ip_h, "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        for dev in ("lo", "up0", BRIDGE):
            run(*ip_h, "link", "set", dev, "up")
        run(*ip_o, "addr", "add", f"{OUTSIDE}/24", "dev", "eth0")
        for dev in ("lo", "eth0"):
            run(*ip_o, "link", "set", dev, "up")
        assert run(*ip_o, "route", "get", "198.18.50.2", check=False).returncode != 0
        # off, whatever a new namespace inherits: turning it on is hutch's job
        run(*in_ns(host, "sysctl", "-qw", "net.ipv4.ip_forward=0"))
        yield Net(h, host, outside)
    finally:
        problems = h.remove_containers(h.container_ids())
        problems += h.stop_daemon()  # before its namespace goes
        for ns in made:
            run("ip", "netns", "del", ns, check=False)
        if problems:
            pytest.fail("not clean:\n  " + "\n  ".join(problems), pytrace=False)


def _container(h: Any, netif: str, *flags: str) -> str:
    ctid = h.create()
    h.ok("set", ctid, "--netif_add", netif, *flags, "--save")
    h.start(ctid)
    return ctid


def test_masquerade_and_forward_from_start(net: Net) -> None:
    h = net.hutch
    ctid = _container(
        h,
        f"ifname=eth0,bridge={BRIDGE},ip=198.18.50.2/24,gateway={GATEWAY},nat=yes",
        "--forward_add",
        "tcp:8080:80",
    )
    rules = net.hutch_rules()
    assert {r["comment"] for r in rules} == {f"hutch:{ctid}"}
    forwarding = run(*in_ns(net.host, "sysctl", "-n", "net.ipv4.ip_forward")).stdout
    assert forwarding.strip() == "1"
    assert sorted(r["chain"] for r in rules) == ["output", "postrouting", "prerouting"]

    # out through masquerade: the outside sees the host's address, and its answer comes back
    server = subprocess.Popen(
        in_ns(net.outside, sys.executable, "-c", SERVER),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], TIMEOUT)
        assert ready and server.stdout.readline().strip() == "listening", server.stderr
        p = h.ok("exec", ctid, f"echo hi | nc -w 3 {OUTSIDE} 9000")
        assert p.stdout.strip() == "pong"
        peer, err = server.communicate(timeout=TIMEOUT)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(TIMEOUT)
    assert peer.strip() == HOST_OUT, err

    # in through the forward: from outside, and from the host itself (the output chain)
    net.serve_http(ctid)
    url = f"http://{HOST_OUT}:8080/index.html"
    for ns in (net.outside, net.host):
        p = net.fetch(ns, url)
        assert p.returncode == 0 and p.stdout.strip() == "hello", (ns, p.stderr)

    h.ok("stop", ctid)
    assert net.hutch_rules() == []
    h.ok("destroy", ctid)


def test_forward_live(net: Net) -> None:
    h = net.hutch
    ctid = _container(h, f"ifname=eth0,bridge={BRIDGE},ip=198.18.50.3/24,gateway={GATEWAY}")
    assert net.hutch_rules() == []  # no NAT, no forward: no table
    net.serve_http(ctid)
    url = f"http://{HOST_OUT}:8081/index.html"

    # --save: a live set starts from the saved config, so an unsaved add cannot be deleted
    h.ok("set", ctid, "--forward_add", "tcp:8081:80", "--save")
    rules = net.hutch_rules()
    assert {(r["chain"], r["comment"]) for r in rules} == {
        ("prerouting", f"hutch:{ctid}"),
        ("output", f"hutch:{ctid}"),
    }
    p = net.fetch(net.outside, url)
    assert p.returncode == 0 and p.stdout.strip() == "hello", p.stderr

    h.ok("set", ctid, "--forward_del", "tcp:8081:80", "--save")
    assert net.hutch_rules() == []
    assert net.fetch(net.outside, url).returncode != 0

    h.ok("set", ctid, "--forward_add", "udp:5353:53")  # stays until the stop
    assert len(net.hutch_rules()) == 2
    h.ok("stop", "--kill", ctid)
    assert net.hutch_rules() == []
    h.ok("destroy", ctid)
