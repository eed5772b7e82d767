"""The steps of a migration, each undone when a later one fails.

offline   checks -> stop here -> copy config and data -> adopt there -> start there ->
          commit there -> destroy here
online    checks -> copy data while it runs (passes until the change is small) -> pre-dumps
          (only with soft-dirty memory tracking) -> checkpoint here (freezes, dumps, stops) ->
          final copy of data and images -> adopt there -> restore there -> commit there ->
          destroy here

Until the target runs the container, a failure (or Ctrl-C) removes what the target got
(`hutch receive abort`, which only ever removes a container still marked unfinished) and
brings the container back here: started again (offline), or restored from its own
checkpoint (online; started afresh only if that fails too).

The checkpoint steps use the CLI contract `hutch checkpoint ID --dir D` (freeze, dump, stop)
and `hutch restore ID --dir D`. The checkpoint holds the settings the container runs with,
live changes included (hutch.container.checkpoint), so it runs on there with them; what
goes over as config.toml is the saved file, for its next start. An offline migration
starts it there from that file, as a restart here would.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hutch.container import lifecycle
from hutch.container.host import Host
from hutch.container.rootfs import backend_of
from hutch.container.state import running_state
from hutch.errors import (
    AlreadyExists,
    HutchError,
    KernelFeatureMissing,
    OperationFailed,
    StateConflict,
    UsageError,
)
from hutch.migrate.progress import Progress, human_bytes
from hutch.migrate.transport import Remote, run_bounded
from hutch.storage.backends import Backend

PRECOPY_PASSES = 5  # live rootfs copies before the freeze, at most
PRECOPY_SMALL = 4 << 20  # a pass that sent less than this is close enough
CHECKPOINT_TIMEOUT = 600.0


@dataclass
class Options:
    host: str
    online: bool = False
    port: int | None = None
    identity: str | None = None
    ssh_options: list[str] = field(default_factory=list)
    remote_root: str | None = None
    remote_hutch: str = "hutch"
    keep_source: bool = False
    quiet: bool = False
    # the verbs of this host's CLI (given by it: the library does not import the CLI)
    local_verbs: tuple[str, ...] = ()


@dataclass
class Result:
    ctid: str
    host: str
    mode: str
    was_running: bool
    downtime: float | None
    total: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_target(target: str) -> str:
    """Refuse an ssh destination ssh would read as an option (`-oProxyCommand=...` runs a
    command here as root) or one with blanks or control characters (split or hidden in
    logs and in the remote command line). A host, user@host or [v6]: nothing more."""
    if not target:
        raise UsageError("the target host is empty")
    if target.startswith("-"):
        raise UsageError(f"target {target!r} starts with '-': ssh would take it for an option")
    if any(c.isspace() or not c.isprintable() for c in target):
        raise UsageError(f"target {target!r} contains blanks or control characters")
    return target


def migrate(host: Host, ctid: str, opts: Options) -> Result:
    check_target(opts.host)
    cfg = lifecycle.require(host, ctid)
    was_running = running_state(host.paths, ctid) is not None
    if opts.online and not was_running:
        raise StateConflict(
            f"container {ctid} is not running: nothing to migrate live",
            hint="leave out --online",
        )
    prog = Progress(ctid, opts.host, opts.quiet)
    with Remote(
        opts.host,
        port=opts.port,
        identity=opts.identity,
        options=opts.ssh_options,
        remote_root=opts.remote_root,
        remote_hutch=opts.remote_hutch,
    ) as remote:
        remote.connect()
        hello = _check_target(remote, ctid)
        if opts.online:
            _check_online(cfg.security_idmap, hello, remote, opts.local_verbs)
        return _Migration(host, ctid, backend_of(cfg), cfg.template, remote, hello, prog,
                          opts, was_running).run()  # fmt: skip


def _family(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _check_target(remote: Remote, ctid: str) -> dict[str, Any]:
    from hutch import __version__

    out = remote.hutch("--version").strip()
    theirs = out.split()[-1] if out.startswith("hutch ") else ""
    if _family(theirs) != _family(__version__):
        raise OperationFailed(
            f"{remote.host} runs hutch {theirs or '(unknown)'}, this host {__version__}: "
            "a migration needs the same version family",
        )
    hello = remote.receive("hello", ctid)
    if hello.get("exists"):
        raise AlreadyExists(f"container {ctid} already exists on {remote.host}")
    return hello


def _check_online(
    mode: str, hello: dict[str, Any], remote: Remote, local_verbs: tuple[str, ...]
) -> None:
    from hutch.criu import readiness

    for verb, where, verbs in (
        ("checkpoint", "this host", local_verbs),
        ("restore", remote.host, hello.get("verbs", [])),
    ):
        if verb not in verbs:
            raise KernelFeatureMissing(
                f"hutch on {where} has no '{verb}' verb: live migration needs it",
                hint="migrate offline (without --online)",
            )
    r = readiness.probe()
    if r.path is None:
        raise KernelFeatureMissing(
            "criu is not installed: live migration needs it", hint="run setup.sh"
        )
    if not r.usable:
        why = r.problems[0] if r.problems else f"criu {r.version_text} at {r.path}"
        raise KernelFeatureMissing(f"CRIU cannot checkpoint here: {why}", hint="hutch checkconfig")
    if mode == "shared" and hello.get("shared_base") is not None:
        from hutch.security import idmap

        here = idmap.allocate("shared", set())
        if hello["shared_base"] != here:
            raise StateConflict(
                f"the shared ID block is {here} here but {hello['shared_base']} on "
                f"{remote.host}: a live migration cannot shift a running container's files",
                hint="migrate it offline",
            )


class _Migration:
    def __init__(
        self,
        host: Host,
        ctid: str,
        backend: Backend,
        template: str | None,
        remote: Remote,
        hello: dict[str, Any],
        prog: Progress,
        opts: Options,
        was_running: bool,
    ) -> None:
        self.host, self.ctid, self.backend, self.template = host, ctid, backend, template
        self.remote, self.hello, self.prog, self.opts = remote, hello, prog, opts
        self.was_running = was_running
        self.ctdir = host.paths.ct_dir(ctid)
        self.notes: list[str] = []
        self.staging = ""
        self.images = ""

    # -- the whole --------------------------------------------------------------------------

    def run(self) -> Result:
        prep = self.remote.receive("prepare", self.ctid)
        self.staging, self.images = prep["staging"], prep["images"]
        try:
            self._template()
        except BaseException:
            self._abort_remote()
            raise
        self.prog.say(
            f"target ready: hutch {self.hello.get('version')} at {self.hello.get('root')}, "
            f"{self.backend.name} backend, {'running' if self.was_running else 'stopped'}"
        )
        self.prog.step("checked")
        downtime = self._online() if self.opts.online else self._offline()
        if self.opts.keep_source:
            self.prog.say("source kept (stopped): --keep-source")
        else:
            try:
                lifecycle.destroy(self.host, self.ctid)
                self.prog.say("destroyed here")
            except HutchError as e:
                # it runs there; a stale stopped copy here is the lesser harm
                self.notes.append(f"the stopped copy here was not removed: {e}")
        total = self.prog.total()
        if downtime is not None:
            self.prog.say(f"downtime {downtime:.2f}s, total {total:.2f}s")
        return Result(
            self.ctid,
            self.remote.host,
            "online" if self.opts.online else "offline",
            self.was_running,
            downtime,
            total,
            self.notes,
        )

    def _template(self) -> None:
        """An overlay container's lower layer is its template: bring the archive along when
        the target's cache lacks it."""
        if not self.backend.shares_template:
            return
        name = self.template or "busybox"
        t = self.remote.receive("template", name)
        if t.get("present"):
            return
        from hutch.storage.cache import find_template

        info = find_template(self.host.paths, name)
        if info.file is None:
            raise OperationFailed(f"template {name} is missing on {self.remote.host}")
        self.prog.say(f"copying template {name} ({human_bytes(info.size or 0)})")
        self.remote.rsync(str(info.file), t["cache"] + "/")

    # -- copies -----------------------------------------------------------------------------

    def _copy_data(self, live: bool = False) -> int:
        """`live`: the container runs on; a file it removes between rsync's listing and its
        reading is no failure (the copy after the dump brings the tree to its last state)."""
        data = self.backend.data_path(self.ctdir)
        src = f"{data}/" if data.is_dir() else str(data)
        dest = f"{self.staging}/{data.name}" + ("/" if data.is_dir() else "")
        # the container's own files, maybe running: never read them with the host in reach
        return self.remote.rsync(src, dest, jailed=True, live=live)

    def _copy_config(self) -> None:
        self.remote.rsync(str(self.host.paths.ct_config(self.ctid)), f"{self.staging}/")

    # -- offline ----------------------------------------------------------------------------

    def _offline(self) -> float | None:
        t_stop = None
        if self.was_running:
            self.prog.say("stopping here")
            t_stop = self.prog.mark("stop")
            self._client().call("POST", f"/v1/containers/{self.ctid}/stop", {})
        self.prog.step("stopped")
        try:
            self._copy_config()
            sent = self._copy_data()
            self.prog.say(f"copied config and {self.backend.name} data ({human_bytes(sent)})")
            self.prog.step("copied")
            self._adopt(keep_base=False)
            self.prog.step("adopted")
            if self.was_running:
                out = self.remote.receive(
                    "start", self.ctid, "--daemon-pid", str(self.hello.get("hutchd_pid") or 0)
                )
                self.prog.say(f"running there (init pid {out.get('pid')})")
            self.prog.step("started")
            self.remote.receive("commit", self.ctid)
        except BaseException as e:
            self._undo(e, restart=self.was_running, images=None)
            raise self._undone(e) from None
        return None if t_stop is None else self.prog.since("stop")

    # -- online -----------------------------------------------------------------------------

    def _online(self) -> float:
        for n in range(1, PRECOPY_PASSES + 1):
            sent = self._copy_data(live=True)
            self.prog.say(f"live copy pass {n}: {human_bytes(sent)}")
            if sent < PRECOPY_SMALL:
                break
        self._copy_config()
        reason = self._predump_skipped()
        self.prog.say(f"pre-dumps skipped: {reason}")
        self.notes.append(f"pre-dumps skipped: {reason}")
        local = self.host.paths.containers / f".{self.ctid}.checkpoint"
        shutil.rmtree(local, ignore_errors=True)
        local.mkdir(mode=0o700)
        try:
            self.prog.say("freezing and dumping here")
            self.prog.mark("freeze")
            self._local_hutch("checkpoint", self.ctid, "--dir", str(local))
            self.prog.say(f"dumped in {self.prog.since('freeze'):.2f}s")
            self.prog.step("dumped")
            try:
                sent = self._copy_data()
                self.remote.stream_dir(str(local), self.images)
                self.prog.say(f"final copy: {human_bytes(sent)} of data and the images")
                self.prog.step("copied")
                self._adopt(keep_base=True)
                self.prog.step("adopted")
                self.remote.receive(
                    "daemon", self.ctid, "--daemon-pid", str(self.hello.get("hutchd_pid") or 0)
                )
                self.remote.hutch("restore", self.ctid, "--dir", self.images,
                                  timeout=CHECKPOINT_TIMEOUT)  # fmt: skip
                downtime = self.prog.since("freeze")
                self.prog.say("restored there")
                self.prog.step("restored")
                self.remote.receive("commit", self.ctid)
            except BaseException as e:
                self._undo(e, restart=True, images=local)
                raise self._undone(e) from None
        finally:
            shutil.rmtree(local, ignore_errors=True)
        return downtime

    def _predump_skipped(self) -> str:
        from hutch.criu import readiness

        r = readiness.probe()
        if not r.features.get("mem_dirty_track"):
            return "this kernel has no soft-dirty memory tracking (criu: mem_dirty_track)"
        # iterative pre-dumps need `hutch checkpoint --pre-dump`, which is not there yet
        return "hutch checkpoint has no --pre-dump"

    # -- both -------------------------------------------------------------------------------

    def _adopt(self, keep_base: bool) -> None:
        args = ["adopt", self.ctid] + (["--keep-base"] if keep_base else [])
        out = self.remote.receive(*args)
        if out.get("shifted"):
            self.prog.say(f"its files were shifted to host IDs {out.get('idmap_base')} there")
        self.prog.say("container created there")

    def _client(self):  # type: ignore[no-untyped-def]
        from hutch.api.client import Client

        return Client(self.host.paths)

    def _local_hutch(self, *args: str) -> None:
        argv = [sys.executable, "-m", "hutch", "--root", str(self.host.paths.root), *args]
        r = run_bounded(argv, CHECKPOINT_TIMEOUT, f"hutch {args[0]} {self.ctid} timed out here")
        if r.returncode != 0:
            lines = [x for x in r.stderr.splitlines() if x.startswith("hutch: ")]
            why = lines[-1][len("hutch: ") :] if lines else f"exit {r.returncode}"
            raise OperationFailed(why)

    def _abort_remote(self) -> bool:
        try:
            self.remote.receive("abort", self.ctid)
            return True
        except HutchError as e:
            self.notes.append(f"could not clean up on {self.remote.host}: {e}")
            return False

    def _undo(self, cause: BaseException, restart: bool, images: Path | None) -> None:
        self.prog.say(f"failed: {cause}; undoing")
        if self._abort_remote():
            self.prog.say(f"removed the partial copy on {self.remote.host}")
        if not restart:
            return
        if images is not None:
            try:
                self._local_hutch("restore", self.ctid, "--dir", str(images))
                self.prog.say("restored here from its checkpoint")
                return
            except HutchError as e:
                self.notes.append(f"restore here failed ({e}); started afresh")
        with contextlib.suppress(HutchError):
            if running_state(self.host.paths, self.ctid) is None:
                self._client().call("POST", f"/v1/containers/{self.ctid}/start", {})
            self.prog.say("running here again")
            return
        self.notes.append(f"container {self.ctid} could not be started here again")

    def _undone(self, cause: BaseException) -> BaseException:
        """The failure as one line saying what state things are in now."""
        if not isinstance(cause, HutchError):
            return cause
        running = running_state(self.host.paths, self.ctid) is not None
        here = "runs here again" if running else "is here, stopped"
        if self.was_running and not running:
            here = "could NOT be started here again"
        extra = "; ".join(self.notes)
        msg = f"{cause.message}; migration undone: container {self.ctid} {here}" + (
            f" ({extra})" if extra else ""
        )
        return type(cause)(msg, hint=cause.hint)
