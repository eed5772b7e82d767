"""The ssh connection to the target: one ControlMaster process, started by PID and stopped by
PID, whose socket makes every later remote call (and rsync) skip the key exchange.

Remote commands run the target's own `hutch` (its root from `--remote-root`, else from the
target's environment, e.g. sshd's `SetEnv HUTCH_ROOT=...`). BatchMode is always on: a
migration never stops to ask for a password.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from hutch.errors import HutchError, KernelFeatureMissing, OperationFailed, from_wire

CONNECT_TIMEOUT = 10  # seconds for ssh to reach the target
CALL_TIMEOUT = 120.0  # one remote hutch command
RSYNC_TIMEOUT = 3600.0  # one copy (a large rootfs over a slow link)
RSYNC_IO_TIMEOUT = 60  # rsync's own: no data for this long ends it
# rsync's exits for files that changed under it: some could not be sent (23, e.g. a
# directory that became a symlink meanwhile), some vanished before they were sent (24)
RSYNC_CHANGED = (23, 24)
CIPHERS = "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com"


class Remote:
    def __init__(
        self,
        host: str,
        *,
        port: int | None = None,
        identity: str | None = None,
        options: Sequence[str] = (),
        remote_root: str | None = None,
        remote_hutch: str = "hutch",
    ) -> None:
        for tool in ("ssh", "rsync"):
            if shutil.which(tool) is None:
                raise KernelFeatureMissing(
                    f"{tool} not found: hutch migrate needs it here and on the target",
                    hint="apt-get install openssh-client rsync",
                )
        self.host = host
        self.remote_root = remote_root
        self.remote_hutch = remote_hutch
        self._dir = tempfile.mkdtemp(prefix="hutch-migrate-")
        self.control = os.path.join(self._dir, "ctl")
        opts = [
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
            "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=3",
            "-o", f"ControlPath={self.control}",
        ]  # fmt: skip
        if port is not None:
            opts += ["-p", str(port)]
        if identity is not None:
            opts += ["-i", identity, "-o", "IdentitiesOnly=yes"]
        for o in options:
            opts += ["-o", o]
        # (after the caller's -o: ssh keeps the first value it is given) AES-GCM, which CPUs
        # do in hardware: the images of a frozen container cross at ~1.3x chacha20's speed
        opts += ["-o", f"Ciphers={CIPHERS}"]
        self.ssh_opts = opts
        self._master: subprocess.Popen[bytes] | None = None

    # -- the connection ----------------------------------------------------------------------

    def connect(self) -> None:
        """Start the ControlMaster (in the foreground of its own process, -N: no command) and
        wait until its socket answers; a one-line error naming ssh's complaint otherwise."""
        err = os.path.join(self._dir, "master.err")
        with open(err, "wb") as errf:
            self._master = subprocess.Popen(
                ["ssh", *self.ssh_opts, "-M", "-N", "-o", "ControlPersist=no", "--", self.host],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errf,
                start_new_session=True,  # a Ctrl-C at the terminal is ours to handle
            )
        deadline = time.monotonic() + CONNECT_TIMEOUT + 5
        while time.monotonic() < deadline:
            if self._master.poll() is not None:
                break
            if self._check():
                return
            time.sleep(0.05)
        with open(err, errors="replace") as f:
            lines = [x.strip() for x in f if x.strip() and not x.startswith("Warning:")]
        self.close()
        why = lines[-1] if lines else "no answer"
        raise OperationFailed(f"cannot reach {self.host} over ssh: {why}")

    def _check(self) -> bool:
        r = subprocess.run(
            ["ssh", *self.ssh_opts, "-O", "check", "--", self.host],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=CONNECT_TIMEOUT,
            check=False,
        )
        return r.returncode == 0

    def close(self) -> None:
        """Stop the master by its PID (SIGTERM, then SIGKILL) and remove the socket's dir."""
        m, self._master = self._master, None
        if m is not None and m.poll() is None:
            m.terminate()
            try:
                m.wait(5)
            except subprocess.TimeoutExpired:
                m.kill()
                m.wait(5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- remote commands --------------------------------------------------------------------

    def hutch_argv(self, *args: str) -> list[str]:
        root = ["--root", self.remote_root] if self.remote_root else []
        return [self.remote_hutch, *root, *args]

    def run(
        self, argv: Sequence[str], timeout: float = CALL_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a command on the target (quoted for its shell); never raises for its status."""
        return run_bounded(
            ["ssh", *self.ssh_opts, "--", self.host, shlex.join(argv)],
            timeout,
            f"{self.host}: '{shlex.join(argv)}' did not finish in {timeout:.0f}s",
        )

    def hutch(self, *args: str, timeout: float = CALL_TIMEOUT) -> str:
        """`hutch ARGS` on the target; its stdout, or its one-line error raised here."""
        r = self.run(self.hutch_argv(*args), timeout)
        if r.returncode != 0:
            raise remote_error(self.host, args, r)
        return r.stdout

    def receive(self, *args: str, timeout: float = CALL_TIMEOUT) -> dict[str, Any]:
        """`hutch receive ARGS` on the target: its one JSON line."""
        out = self.hutch("receive", *args, timeout=timeout)
        try:
            data = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise OperationFailed(
                f"{self.host}: 'hutch receive {args[0]}' answered {out.strip()[:80]!r}",
                hint="is the same hutch installed there?",
            ) from None
        if not isinstance(data, dict):
            raise OperationFailed(f"{self.host}: 'hutch receive {args[0]}' answered {data!r}")
        return data

    # -- copies -----------------------------------------------------------------------------

    def rsync(
        self,
        src: str,
        dest: str,
        *,
        extra: Sequence[str] = (),
        timeout: float = RSYNC_TIMEOUT,
        jailed: bool = False,
        live: bool = False,
    ) -> int:
        """rsync `src` here to `dest` on the target through the master: owners by number,
        hard links, ACLs, xattrs (file capabilities, overlay whiteouts), sparse files.
        Returns the bytes of file data it sent.

        `jailed`: `src` is a container's (maybe running) files, so the sender sees them alone,
        in a root without the host's (hutch.migrate.jail). `live`: the files change
        while rsync runs (a running container): those it could not send are no failure."""
        enter = None
        if jailed:
            from hutch.migrate import jail

            base = os.path.join(self._dir, "jail")
            os.makedirs(base, 0o700, exist_ok=True)
            where = jail.Jail(base=base, data=src.rstrip("/") or "/", socket=self.control)
            enter = where.enter
            src = jail.INSIDE + ("/" if src.endswith("/") else "")
        argv = [
            "rsync", "-aHAX", "--numeric-ids", "--sparse", "--delete", "--stats",
            f"--timeout={RSYNC_IO_TIMEOUT}",
            "-e", shlex.join(["ssh", *self.ssh_opts]),
            *extra, src, f"{self.host}:{dest}",
        ]  # fmt: skip
        r = run_bounded(argv, timeout, f"rsync of {src} to {self.host} timed out", preexec_fn=enter)
        if r.returncode != 0 and not (live and r.returncode in RSYNC_CHANGED):
            lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
            lines = [x for x in lines if not x.startswith("Warning:")] or lines
            why = lines[0] if lines else f"exit {r.returncode}"
            raise OperationFailed(f"rsync of {src} to {self.host} failed: {why}")
        return sent_bytes(r.stdout)

    def stream_dir(self, src: str, dest: str, timeout: float = RSYNC_TIMEOUT) -> int:
        """Copy the files of directory `src` into `dest` on the target as one tar stream
        through the master: for new files (checkpoint images) this is about twice as fast as
        rsync, which has nothing to compare them with. Returns the bytes sent."""
        size = sum(
            os.path.getsize(os.path.join(src, n))
            for n in os.listdir(src)
            if os.path.isfile(os.path.join(src, n))
        )
        remote = shlex.join(["tar", "--numeric-owner", "-C", dest, "-xf", "-"])
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "-C", src, "-cf", "-", "."],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            r = run_bounded(
                [
                    "ssh",
                    *self.ssh_opts,
                    "--",  # the host is never an option, nor is the command after it
                    self.host,
                    f"mkdir -p {shlex.quote(dest)} && {remote}",
                ],
                timeout,
                f"copy of {src} to {self.host} timed out",
                stdin=tar.stdout,
            )
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            if tar.poll() is None:
                try:
                    tar.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    tar.kill()
                    tar.wait()
        if tar.returncode != 0 or r.returncode != 0:
            err = (r.stderr or "").strip().splitlines() or (
                tar.stderr.read().decode(errors="replace").strip().splitlines()
                if tar.stderr
                else []
            )
            raise OperationFailed(
                f"copy of {src} to {self.host} failed: {err[-1] if err else 'tar failed'}"
            )
        return size


def run_bounded(
    argv: Sequence[str],
    timeout: float,
    timed_out: str,
    stdin: Any = subprocess.DEVNULL,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a program to its end, its output captured; `timed_out` is the one-line error when
    it takes longer than `timeout` seconds. Its exit status is the caller's to judge.
    `preexec_fn` runs in the child before exec (the caller is single-threaded)."""
    try:
        return subprocess.run(
            argv,
            stdin=stdin,
            preexec_fn=preexec_fn,  # single-threaded callers only
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OperationFailed(timed_out) from None


_SENT = re.compile(r"^Total transferred file size: ([\d,.]+)", re.MULTILINE)


def sent_bytes(stats: str) -> int:
    m = _SENT.search(stats)
    return int(re.sub(r"[,.]", "", m[1])) if m else 0


def remote_error(host: str, args: Sequence[str], r: subprocess.CompletedProcess[str]) -> HutchError:
    """The target's `hutch: ...` line as the same kind of error here (ssh's own failure,
    exit 255, as 'cannot reach')."""
    lines = [x.strip() for x in r.stderr.splitlines() if x.strip()]
    mine = [x for x in lines if x.startswith("hutch: ")]
    if r.returncode == 255 and not mine:
        return OperationFailed(f"lost ssh connection to {host}: {lines[-1] if lines else ''}")
    if r.returncode == 127 and not mine:
        return OperationFailed(f"{host} has no hutch: {lines[-1] if lines else 'not found'}")
    msg = mine[-1][len("hutch: ") :] if mine else (lines[-1] if lines else f"exit {r.returncode}")
    kind = {2: "usage", 4: "not-found", 5: "exists", 6: "state", 7: "kernel-feature"}.get(
        r.returncode, "failed"
    )
    with contextlib.suppress(Exception):
        return from_wire(kind, f"{host}: {msg}")
    return OperationFailed(f"{host}: {msg}")
