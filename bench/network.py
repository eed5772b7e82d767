"""Container network throughput: TCP with iperf3 over hutch's veth+bridge and venet paths.

    /opt/hutch/venv/bin/python bench/network.py [--time S] [--json]

Everything happens in a throwaway network namespace playing the host (hutch's CLI and
its hutchd run under `nsenter --net=`), removed at the end, also on Ctrl-C and SIGTERM.
Addresses are from 198.18.0.0/15. The iperf3 server runs in a container's network
namespace (`nsenter --net=/proc/INIT/ns/net iperf3 -s`), the client in the host's or the
other container's: the container's network path, measured with the host's iperf3 binary
(the busybox rootfs has none). Host loopback is the reference. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lifecycle import cleanup_always

HUTCH = str(Path(sys.executable).with_name("hutch"))
TIMEOUT = 60.0
PORT = 5201
BRIDGE = "brbench0"
HOST_ADDR = "198.18.20.254/24"
# container label -> hutch set flags
CONTAINERS: dict[str, list[str]] = {
    "veth1": ["--netif_add", f"ifname=eth0,bridge={BRIDGE},ip=198.18.20.1/24"],
    "veth2": ["--netif_add", f"ifname=eth0,bridge={BRIDGE},ip=198.18.20.2/24"],
    "venet1": ["--ipadd", "198.18.21.1"],
    "venet2": ["--ipadd", "198.18.21.2"],
}
# (label, server: container label or "host", client: ditto, address the client dials)
PATHS: list[tuple[str, str, str, str]] = [
    ("host loopback (reference)", "host", "host", "127.0.0.1"),
    ("host -> ct, veth+bridge", "veth1", "host", "198.18.20.1"),
    ("ct -> host, veth+bridge", "host", "veth1", "198.18.20.254"),
    ("host -> ct, venet", "venet1", "host", "198.18.21.1"),
    ("ct -> host, venet", "host", "venet1", "198.18.20.254"),
    ("ct -> ct, veth (same bridge)", "veth1", "veth2", "198.18.20.1"),
    ("ct -> ct, venet (routed)", "venet1", "venet2", "198.18.21.1"),
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(argv: list[str], timeout: float = TIMEOUT) -> str:
    p = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "hutch"
        self.netns = f"hutch-bench{os.getpid()}"
        self.ns = [f"--net=/run/netns/{self.netns}"]
        self.pids: dict[str, int] = {}  # container label -> init pid
        self.servers: list[subprocess.Popen[str]] = []

    # the host namespace and hutch in it

    def hutch(self, *args: str) -> str:
        return run(["nsenter", *self.ns, HUTCH, "--root", str(self.root), *args])

    def setup(self) -> None:
        if os.path.exists(f"/run/netns/{self.netns}"):
            raise RuntimeError(f"network namespace {self.netns} exists: not ours")
        run(["ip", "netns", "add", self.netns])
        ip = ["ip", "-n", self.netns]
        run([*ip, "link", "set", "lo", "up"])
        run([*ip, "link", "add", BRIDGE, "type", "bridge"])
        run([*ip, "addr", "add", HOST_ADDR, "dev", BRIDGE])
        run([*ip, "link", "set", BRIDGE, "up"])
        for label, flags in CONTAINERS.items():
            ctid = f"nb-{label}"
            self.hutch("create", ctid)
            self.hutch("set", ctid, *flags, "--save")
            self.pids[label] = int(json.loads(self.hutch("start", ctid, "--json"))["pid"])
        time.sleep(1.5)  # IPv6 DAD and the bridge port's forwarding state settle

    def netns_of(self, where: str) -> list[str]:
        if where == "host":
            return self.ns
        return [f"--net=/proc/{self.pids[where]}/ns/net"]

    # one measurement

    def measure(self, server: str, client: str, address: str, seconds: float) -> float:
        """Gbit/s received by the server over `seconds` of one TCP stream."""
        srv = subprocess.Popen(
            [
                "nsenter",
                *self.netns_of(server),
                "iperf3",
                "-s",
                "-1",
                "--forceflush",
                "-p",
                str(PORT),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.servers.append(srv)
        try:
            assert srv.stdout is not None
            fd, seen, deadline = srv.stdout.fileno(), b"", time.monotonic() + 10
            while b"listening" not in seen.lower():  # raw reads: no buffer hides a line
                left = deadline - time.monotonic()
                ready, _, _ = select.select([fd], [], [], max(left, 0))
                chunk = os.read(fd, 4096) if ready else b""
                if not chunk:
                    raise RuntimeError(f"iperf3 server in {server} did not start: {seen!r}")
                seen += chunk
            out = run(
                [
                    *["nsenter", *self.netns_of(client), "iperf3", "-c", address],
                    *["-p", str(PORT), "-t", str(seconds), "-J"],
                ],
                timeout=seconds + 30,
            )
            result = json.loads(out)
            return float(result["end"]["sum_received"]["bits_per_second"]) / 1e9
        finally:
            if srv.poll() is None:
                srv.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                srv.wait(5)
            if srv.poll() is None:
                srv.kill()
                srv.wait(5)
            if srv.stdout is not None:
                srv.stdout.close()
            self.servers.remove(srv)

    # cleanup, whatever happened

    def daemon_pid(self) -> int | None:
        try:
            pid = int((self.root / "run/hutch/hutchd.pid").read_text().split()[0])
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return None
        return pid if b"hutch.daemon" in args and str(self.root).encode() in args else None

    def cleanup(self) -> None:
        for srv in list(self.servers):
            if srv.poll() is None:
                srv.kill()
                srv.wait(5)
        containers = self.root / "var/lib/hutch/containers"
        if containers.is_dir():
            for d in sorted(containers.iterdir()):
                if d.is_dir() and not d.name.startswith("."):
                    for verb in (["stop", "--kill"], ["destroy"]):
                        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                            self.hutch(*verb, d.name)
        pid = self.daemon_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.02)
        if os.path.exists(f"/run/netns/{self.netns}"):
            links = json.loads(run(["ip", "-n", self.netns, "-j", "link"]) or "[]")
            extra = [x["ifname"] for x in links if x["ifname"] not in ("lo", BRIDGE)]
            if extra:
                log(f"warning: left in the bench namespace: {' '.join(extra)}")
            subprocess.run(["ip", "netns", "del", self.netns], timeout=TIMEOUT, check=False)


@contextlib.contextmanager
def workspace() -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="hutch-bench-net-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def cleanup_on_exit(bench: Bench) -> Iterator[None]:
    with cleanup_always(bench.cleanup):
        yield


def preflight() -> None:
    if os.geteuid() != 0:
        sys.exit("bench/network.py needs root (namespaces, containers)")
    for tool in ("iperf3", "nsenter", "ip"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing (bash setup.sh --dev installs iperf3)")
    if not Path("/bin/busybox").is_file():
        sys.exit("/bin/busybox is missing: apt-get install busybox-static")


def table(rows: list[dict[str, Any]]) -> str:
    ref = next((r["gbit_s"] for r in rows if r["server"] == r["client"] == "host"), None)
    lines = [f"{'path':<30} {'Gbit/s':>8} {'vs loopback':>12}"]
    for r in rows:
        g = r["gbit_s"]
        ratio = f"{g / ref:.2f}" if g is not None and ref else "-"
        cell = f"{g:.2f}" if g is not None else "FAIL"
        lines.append(f"{r['path']:<30} {cell:>8} {ratio:>12}")
    return "\n".join(lines)


def measure_all(seconds: float) -> tuple[list[dict[str, Any]], bool]:
    rows: list[dict[str, Any]] = []
    failed = False
    with workspace() as tmp:
        bench = Bench(tmp)
        with cleanup_on_exit(bench):
            log("setting up: host namespace, 4 containers (2 veth on a bridge, 2 venet)")
            bench.setup()
            for label, server, client, address in PATHS:
                log(f"measuring {label} ({seconds:g} s)")
                try:
                    gbit: float | None = bench.measure(server, client, address, seconds)
                except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as e:
                    log(f"  failed: {e}")
                    gbit, failed = None, True
                rows.append({"path": label, "server": server, "client": client, "gbit_s": gbit})
    return rows, failed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--time", type=float, default=3.0, help="seconds per measurement (3)")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    args = p.parse_args(argv)
    preflight()
    try:
        rows, failed = measure_all(args.time)
    except KeyboardInterrupt:
        log("interrupted: containers, hutchd and the namespace removed")
        return 130
    text = table(rows)
    meta = {"kernel": os.uname().release, "cpus": os.cpu_count(), "seconds": args.time}
    if args.json:
        log(text)
        print(json.dumps({"meta": meta, "rows": rows}, indent=2))
    else:
        print(
            f"TCP throughput, one stream, {args.time:g} s each "
            f"(kernel {meta['kernel']}, {meta['cpus']} CPUs)"
        )
        print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
