"""`Container`: one container of a `hutch.Host`, and everything done to it.

Every method runs in the calling process: `start()` makes its init a child of this process,
`stop()` ends and reaps it and cleans up. hutchd, when it runs, adopts a container the
library started as soon as it is asked about it, and the library stops one hutchd started
the same way: the container's lock keeps the two from interleaving, and the cleanup after
an init's exit happens once (hutch.container.operations).

Results are typed (hutch.container.results); errors are `hutch.errors` classes; nothing
prints or exits.
"""

from __future__ import annotations

import os
import select
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from hutch.config import KEY_BY_FLAG, KEY_BY_NAME, ContainerConfig, Key
from hutch.container import lifecycle, operations
from hutch.container.beancounters import Beancounter
from hutch.container.context import HostContext
from hutch.container.disk import Usage
from hutch.container.results import (
    CheckpointResult,
    ExecResult,
    RestoreResult,
    SetResult,
    Shutdown,
    StartResult,
    Stats,
    Status,
)
from hutch.container.state import RunState
from hutch.errors import OperationFailed, StateConflict, UsageError
from hutch.storage.snapshots import Snapshot

_KEY_BY_ATTR = {key.attr: key for key in KEY_BY_NAME.values()}
_ADD = {key.add_flag: key for key in KEY_BY_NAME.values() if key.add_flag}
_DEL = {key.del_flag: key for key in KEY_BY_NAME.values() if key.del_flag}


def _key(word: str) -> Key | None:
    """A keyword of `set()`/`create()`: a `hutch set` flag with `_` for `-` (memory,
    stop_timeout, ip_address), or the config field (resources_memory)."""
    return (
        KEY_BY_FLAG.get(word.replace("_", "-")) or KEY_BY_FLAG.get(word) or _KEY_BY_ATTR.get(word)
    )


def _value(key: Key, value: object) -> Any:
    """A string as the command line would take it (memory="300M"); anything else typed
    (`Pair`, an `ipaddress` address, a `Netif`) or as a config file holds it, checked the
    same way (hutch.config Key.accept)."""
    if isinstance(value, str):
        return key.from_cli(value)
    try:
        return key.accept(value)
    except ValueError as e:
        raise UsageError(f"{key.flag.replace('-', '_')}: {e}") from None


def keyword_changes(settings: Mapping[str, object]) -> tuple[dict, dict, dict]:
    """Settings by keyword -> (validated values by key name, items to add and items to
    remove by key name). `ipadd=[...]`, `ipdel=[...]` (a list key's add and delete flags)
    edit the list the container runs with (hutch.container.live.change_settings)."""
    changes: dict[str, Any] = {}
    add: dict[str, list[str]] = {}
    remove: dict[str, list[str]] = {}
    for word, value in settings.items():
        key = _key(word)
        if key is not None:
            changes[key.name] = _value(key, value)
            continue
        key = _ADD.get(word) or _DEL.get(word)
        if key is None:
            raise UsageError(f"unknown setting {word!r}", hint="see 'hutch set --help'")
        given = [value] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
        (add if word in _ADD else remove).setdefault(key.name, []).extend(map(str, given))
    return changes, add, remove


class Container:
    """A container of `host`, by ID. Get one from `Host.get()`, `Host.create()` or
    `Host.containers()`; it reads the container's state afresh on every call."""

    def __init__(self, host: HostContext, ctid: str) -> None:
        self.host = host
        self._id = ctid

    @property
    def id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"Container({self._id!r}, root={str(self.host.paths.root)!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Container)
            and other._id == self._id
            and other.host.paths == self.host.paths
        )

    def __hash__(self) -> int:
        return hash((self._id, self.host.paths))

    # -- state ---------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        lifecycle.require(self.host, self._id)
        self.host.reap_children()
        st = RunState.load(self.host.paths, self._id)
        if st is None or not st.alive():
            return Status.STOPPED
        return Status.FROZEN if self.host.cgroups.frozen(st.cgroups) else Status.RUNNING

    @property
    def config(self) -> ContainerConfig:
        """The settings it runs with, live changes included (stopped: those it will start
        with, config.toml)."""
        from hutch.container.live import effective_config

        return effective_config(self.host, self._id)

    @property
    def saved_config(self) -> ContainerConfig:
        """Its config.toml: what the next start runs with."""
        return lifecycle.require(self.host, self._id)

    def set(self, save: bool = False, **settings: object) -> SetResult:
        """Change settings, live where the kernel allows (`memory="300M"`, `cpus=2`,
        `hostname="web1"`, `ipadd=["198.18.0.5"]`): successive changes accumulate in what
        it runs with (`config`); `save` also writes them to config.toml (`saved_config`),
        which the next start runs with. Stopped: only with `save`."""
        from hutch.container.live import change_settings

        changes, add, remove = keyword_changes(settings)
        if not (changes or add or remove):
            raise UsageError("nothing to set")
        return change_settings(self.host, self._id, changes, save, add=add, remove=remove)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> StartResult:
        """Start it in this process: its init becomes this process's child."""
        self.host.reap_children()
        started = operations.start(self.host, self._id)
        self.host.keep_child(self._id, started.state.pid, started.console_master)
        return StartResult(started.state.pid, tuple(started.warnings))

    def stop(self, kill: bool = False, timeout: float | None = None) -> Shutdown:
        """Power it off through its init (its stop signal), SIGKILL after `timeout`
        seconds (default: its stop_timeout); `kill`: SIGKILL at once."""
        try:
            how = operations.stop(self.host, self._id, timeout, kill)
        finally:
            self.host.release_child(self._id)
        return Shutdown(how)

    def restart(self, timeout: float | None = None) -> StartResult:
        if self.status is not Status.STOPPED:
            self.stop(timeout=timeout)
        return self.start()

    def destroy(self, force: bool = False) -> None:
        """Remove it (stopped); `force`: kill it first if it runs."""
        if force and self.status is not Status.STOPPED:
            self.stop(kill=True)
        lifecycle.destroy(self.host, self._id)

    def freeze(self) -> None:
        operations.freeze(self.host, operations.running(self.host, self._id))

    def unfreeze(self) -> None:
        operations.unfreeze(self.host, operations.running(self.host, self._id))

    # -- checkpoint / restore --------------------------------------------------------------

    def checkpoint(
        self, directory: str | os.PathLike[str] | None = None, keep_running: bool = False
    ) -> CheckpointResult:
        """Save it with CRIU into `directory` (default: its own, used up by `restore()`);
        it stops unless `keep_running`."""
        cfg = self.config  # a live address or limit is dumped too
        st = operations.running(self.host, self._id)
        images = operations.images_dir(self.host, self._id, directory)
        netns_fd = operations.open_netns(st.pid)
        pidfd = os.pidfd_open(st.pid)
        try:
            result = operations.checkpoint(self.host, cfg, st, images, keep_running)
            if not keep_running:
                if not operations.wait_exit(pidfd, operations.KILL_WAIT):
                    raise StateConflict(f"container {self._id}: its init outlived the dump")
                self.host.release_child(self._id)
                operations.finish(self.host, st, netns_fd)
        finally:
            os.close(pidfd)
            if netns_fd >= 0:
                os.close(netns_fd)
        return CheckpointResult(Path(result["dir"]), result["dump_ms"], result["kept_running"])

    def restore(self, directory: str | os.PathLike[str] | None = None) -> RestoreResult:
        """Bring it back from a checkpoint; its init becomes this process's child."""
        self.host.reap_children()
        images = operations.images_dir(self.host, self._id, directory)
        started, ms = operations.restore(self.host, self._id, images)
        self.host.keep_child(self._id, started.state.pid, started.console_master)
        if directory is None:
            shutil.rmtree(images, ignore_errors=True)  # restored: not to be used twice
        return RestoreResult(started.state.pid, ms, tuple(started.warnings))

    # -- inside ------------------------------------------------------------------------

    def popen(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> ExecProcess:
        """Start `argv` inside, with pipes for its stdin, stdout and stderr (the
        streaming form of `exec`)."""
        from hutch.container import attach

        if isinstance(argv, str) or not argv:
            raise UsageError("exec needs a command: a list of words")
        full = attach.exec_env()
        full.update(env or {})
        pid, stdin, stdout, stderr = attach.start_piped(
            self.host.paths, self._id, list(argv), full, cwd or "/"
        )
        return ExecProcess(pid, stdin, stdout, stderr)

    def exec(
        self,
        argv: Sequence[str],
        input: bytes | str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> ExecResult:
        """Run `argv` inside and wait for it: its exit status and all it wrote."""
        with self.popen(argv, env, cwd) as p:
            out, err = p.communicate(input.encode() if isinstance(input, str) else input)
        return ExecResult(p.returncode if p.returncode is not None else -1, out, err)

    # -- what it uses ------------------------------------------------------------------

    def stats(self, sample: float = 0.0) -> Stats:
        """Its counters now; CPU% measured over `sample` seconds (0: not measured)."""
        from hutch.container import stats

        st = operations.running(self.host, self._id)
        return Stats.from_row(stats.rows([st], sample)[0])

    def beancounters(self) -> list[Beancounter]:
        """OpenVZ's /proc/user_beancounters rows, rebuilt from the kernel's counters."""
        from hutch.container import beancounters

        st = operations.running(self.host, self._id)
        return beancounters.read(self.host.paths, st, self.config)

    def quota(self) -> Usage:
        from hutch.container import disk

        return disk.usage(self.host.paths, self.config)  # a live --diskspace: what it has

    # -- disk ----------------------------------------------------------------------------

    @property
    def snapshots(self) -> Snapshots:
        return Snapshots(self)

    def clone(self, new_id: str) -> Container:
        """A new, independent copy of this stopped container (see `hutch clone`)."""
        lifecycle.clone(self.host, self._id, new_id)
        return Container(self.host, new_id)

    # -- across hosts ----------------------------------------------------------------------

    def migrate(
        self,
        target: str,
        online: bool = False,
        *,
        keep_source: bool = False,
        port: int | None = None,
        identity: str | None = None,
        remote_root: str | None = None,
        ssh_options: Sequence[str] = (),
    ) -> Any:  # -> hutch.MigrationResult
        """Move it to the hutch host `target` ([user@]host, over ssh), as `hutch migrate`
        does: `online` keeps it running (checkpoint, copy, restore there); the source copy
        is removed unless `keep_source`. Returns a `hutch.MigrationResult`."""
        if _migrator is None:
            raise OperationFailed(
                "migration is carried out by hutch.migrate, which is not loaded",
                hint="use the container through 'import hutch' (hutch.Host), or import "
                "hutch.migrate first",
            )
        return _migrator(
            self.host,
            self._id,
            target,
            online=online,
            keep_source=keep_source,
            port=port,
            identity=identity,
            remote_root=remote_root,
            ssh_options=tuple(ssh_options),
        )


# Moving a container across hosts is hutch.migrate's work, a layer above this one: it
# registers its entry point here when imported (and `import hutch` loads it with Host and
# Container), so the library offers ct.migrate() without importing upwards.
_migrator: Callable[..., Any] | None = None


def register_migrator(fn: Callable[..., Any]) -> None:
    global _migrator
    _migrator = fn


class Snapshots:
    """The snapshots of a container's disk: iterate over them, or create, restore and
    delete one by name."""

    def __init__(self, ct: Container) -> None:
        self._ct = ct

    def list(self) -> list[Snapshot]:
        from hutch.container import disk

        return disk.snapshot_list(self._ct.host, self._ct.id)

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(self.list())

    def __len__(self) -> int:
        return len(self.list())

    def create(self, name: str) -> Snapshot:
        from hutch.container import disk

        return disk.snapshot_create(self._ct.host, self._ct.id, name)

    def restore(self, name: str) -> Snapshot:
        from hutch.container import disk

        return disk.snapshot_restore(self._ct.host, self._ct.id, name)

    def delete(self, name: str) -> None:
        from hutch.container import disk

        disk.snapshot_delete(self._ct.host, self._ct.id, name)


class ExecProcess:
    """A command running inside a container (`Container.popen`): binary pipes `stdin`,
    `stdout`, `stderr`, and `wait()` for its exit status (128+N if killed by signal N)."""

    def __init__(self, pid: int, stdin: int, stdout: int, stderr: int) -> None:
        self.pid = pid  # the joiner's, on the host: it exits with the command's status
        self.stdin = os.fdopen(stdin, "wb", buffering=0)
        self.stdout = os.fdopen(stdout, "rb", buffering=0)
        self.stderr = os.fdopen(stderr, "rb", buffering=0)
        self.returncode: int | None = None

    def __enter__(self) -> ExecProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in (self.stdin, self.stdout, self.stderr):
            f.close()
        self.wait()

    def wait(self) -> int:
        from hutch.container.attach import wait_joiner

        if self.returncode is None:
            self.returncode = wait_joiner(self.pid)
        return self.returncode

    def communicate(self, input: bytes | None = None) -> tuple[bytes, bytes]:
        """Write `input` (then close stdin), read stdout and stderr until the command
        ends; returns what it wrote. What background children keep writing after it
        ended is not waited for."""
        joiner = os.pidfd_open(self.pid)
        pending = input or b""
        out = {self.stdout.fileno(): bytearray(), self.stderr.fileno(): bytearray()}
        poller = select.poll()
        poller.register(joiner, select.POLLIN)
        for fd in out:
            os.set_blocking(fd, False)
            poller.register(fd, select.POLLIN)
        if pending:
            os.set_blocking(self.stdin.fileno(), False)
            poller.register(self.stdin.fileno(), select.POLLOUT)
        else:
            self.stdin.close()
        try:
            done = False
            while not done:
                for fd, _ev in poller.poll():
                    if fd == joiner:
                        done = True
                    elif fd in out:
                        if not self._read(fd, out[fd]):
                            poller.unregister(fd)
                    elif pending:
                        try:
                            pending = pending[os.write(fd, pending) :]
                        except BlockingIOError:
                            continue
                        except OSError:  # EPIPE: the command closed its stdin
                            pending = b""
                        if not pending:
                            poller.unregister(fd)
                            self.stdin.close()
            for fd, buf in out.items():
                while self._read(fd, buf):  # what it wrote before it exited
                    pass
        finally:
            os.close(joiner)
            if not self.stdin.closed:
                self.stdin.close()
        self.wait()
        return bytes(out[self.stdout.fileno()]), bytes(out[self.stderr.fileno()])

    @staticmethod
    def _read(fd: int, buf: bytearray) -> bool:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        except OSError:
            return False
        buf += data
        return bool(data)
