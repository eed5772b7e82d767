"""A second hutch "host" on this machine, reachable over ssh, for `hutch migrate` tests and
benchmarks.

    src = HostNetns.create("hutch-ms1")       # the source host's network (netns.py)
    src.attach(source_hutch)                  # its CLI (and hutchd) run in there
    target = TargetHost.create(tmp, src, "hutch-mt1")
    hutch migrate ID {target.dest} {target.ssh_args}   # run by source_hutch
    ...
    target.close()

`TargetHost` is a network namespace of its own, joined to the source's by a veth pair
(198.18.222.1/24 on the source side, .2 on the target), with an sshd of its own in it: its
config, host key, client key, authorized_keys and known_hosts are all made in a temp dir
(never /etc/ssh or ~/.ssh), it listens only on the target address, and `SetEnv` gives each
session `HUTCH_ROOT=<the target's root>` and a PATH whose `hutch` is this Python's hutch.
So `ssh target hutch ...` works on the target's own root, and the target's hutchd, started by
the first remote `hutch` call, lives in the target's namespace, as sshd does. sshd is
started and stopped by its PID. The only thing made outside the temp dir is /run/sshd (sshd
insists on it as its privilege-separation directory), removed again when it made it.

No pytest here: bench/ uses it too. Every command has a timeout.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from netns import HostNetns, NetnsError, run

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")
SOURCE_ADDR = "198.18.222.1"
TARGET_ADDR = "198.18.222.2"
PREFIX = 24  # room for containers with venet addresses on this link (proxy ARP)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def _keygen(path: Path) -> str:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hutch-migrate-test",
         "-f", str(path)])  # fmt: skip
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class TargetHost:
    workdir: Path
    ns: HostNetns
    source_ns: HostNetns
    root: Path
    sshd: subprocess.Popen[bytes] | None = None
    made_privsep: bool = False
    veth: str = ""
    ssh_args: list[str] = field(default_factory=list)

    @property
    def dest(self) -> str:
        return f"root@{TARGET_ADDR}"

    @property
    def sshd_log(self) -> Path:
        return self.workdir / "sshd.log"

    @classmethod
    def create(cls, workdir: Path, source_ns: HostNetns, name: str) -> TargetHost:
        """The namespace, the link to `source_ns`, keys, config and a running sshd."""
        if not os.access(SSHD, os.X_OK):
            raise NetnsError(f"{SSHD} is absent (apt-get install openssh-server)")
        workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(workdir, 0o700)
        ns = HostNetns.create(name)
        t = cls(workdir, ns, source_ns, workdir / "root")
        try:
            t.root.mkdir(exist_ok=True)
            t._link()
            t._keys_and_config()
            t._start_sshd()
        except BaseException:
            t.close()
            raise
        return t

    def _link(self) -> None:
        # the veth's source end is a scratch device of the source namespace; the target end
        # goes with the target namespace
        self.veth = f"hmig{os.getpid() % 100000}"
        self.source_ns.veth(self.veth, "eth0", peer_ns=self.ns)
        self.source_ns.ip("addr", "add", f"{SOURCE_ADDR}/{PREFIX}", "dev", self.veth)
        self.ns.ip("addr", "add", f"{TARGET_ADDR}/{PREFIX}", "dev", "eth0")

    def _keys_and_config(self) -> None:
        w = self.workdir
        host_pub = _keygen(w / "host_key")
        client_pub = _keygen(w / "client_key")
        (w / "authorized_keys").write_text(client_pub + "\n")
        (w / "known_hosts").write_text(f"{TARGET_ADDR} {host_pub}\n")
        bindir = w / "bin"
        bindir.mkdir(exist_ok=True)
        # the target's `hutch` is the hutch under test, whatever /usr/local/sbin holds
        wrapper = bindir / "hutch"
        # (with the tests' PYTHONPATH: a worktree's hutch on both sides, not the installed one)
        path = os.environ.get("PYTHONPATH", "")
        env = f"PYTHONPATH={shlex.quote(path)} " if path else ""
        wrapper.write_text(f'#!/bin/sh\n{env}exec {sys.executable} -m hutch "$@"\n')
        wrapper.chmod(0o755)
        (w / "sshd_config").write_text(
            f"ListenAddress {TARGET_ADDR}\n"
            "Port 22\n"
            f"HostKey {w / 'host_key'}\n"
            f"AuthorizedKeysFile {w / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"  # the keys live under pytest's temp dir
            "PidFile none\n"  # started and stopped by the PID we hold
            "MaxSessions 50\n"  # every remote call is a session on one ControlMaster
            "MaxStartups 50\n"
            "LogLevel VERBOSE\n"
            f"SetEnv HUTCH_ROOT={self.root} PATH={bindir}:/usr/sbin:/usr/bin:/sbin:/bin\n"
        )
        self.ssh_args = [
            "--identity", str(w / "client_key"),
            "-o", f"UserKnownHostsFile={w / 'known_hosts'}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "LogLevel=ERROR",
        ]  # fmt: skip

    def _start_sshd(self) -> None:
        if not PRIVSEP_DIR.exists():
            PRIVSEP_DIR.mkdir(mode=0o755)
            self.made_privsep = True
        run([SSHD, "-t", "-f", str(self.workdir / "sshd_config")])  # config errors, by name
        with open(self.sshd_log, "wb") as log:
            self.sshd = subprocess.Popen(
                [*self.ns.prefix, SSHD, "-D", "-e", "-f", str(self.workdir / "sshd_config")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while b"Server listening" not in self.sshd_log.read_bytes():
            if self.sshd.poll() is not None or time.monotonic() > deadline:
                raise NetnsError(f"sshd did not start: {self.sshd_log.read_text()[-500:]}")
            time.sleep(0.02)

    def ssh(self, *command: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a command on the target over ssh, from the source's namespace."""
        key = ["-i", str(self.workdir / "client_key")]
        opts = [*key, *self.ssh_args[2:], "-o", "BatchMode=yes"]
        argv = [*self.source_ns.prefix, "ssh", *opts, self.dest, *command]
        return subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )

    def daemon_pid(self) -> int | None:
        try:
            return int((self.root / "run/hutch/hutchd.pid").read_text())
        except (OSError, ValueError):
            return None

    def stop_sshd(self) -> list[str]:
        problems = []
        p, self.sshd = self.sshd, None
        if p is not None and p.poll() is None:
            # nsenter exec()s sshd: this PID is sshd's
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append(f"sshd {p.pid} ignored SIGTERM")
                p.kill()
                p.wait(STOP_TIMEOUT)
        return problems

    def close(self) -> list[str]:
        """Stop sshd (by PID), remove the link and the namespace and /run/sshd if made here.
        The target's hutch root (containers, hutchd) is the caller's to clean first."""
        problems = self.stop_sshd()
        if self.veth:
            self.source_ns.ip("link", "del", self.veth, check=False)
            with contextlib.suppress(ValueError):
                self.source_ns.scratch.remove(self.veth)
        problems += self.ns.close()
        if self.made_privsep:
            with contextlib.suppress(OSError):
                PRIVSEP_DIR.rmdir()
            self.made_privsep = False
        return problems
