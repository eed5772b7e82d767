"""What hutchd does with containers: start, stop, watch, restart on reboot, re-adopt."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hutch.container import lifecycle, operations
from hutch.container.host import Host
from hutch.container.live import change_settings, effective_config
from hutch.container.lock import container_lock
from hutch.container.operations import KILL_WAIT
from hutch.container.runtime import cleanup
from hutch.container.state import RunState
from hutch.daemon.console import Console
from hutch.errors import NotFound, StateConflict

log = logging.getLogger("hutchd")


@dataclass
class Tracked:
    state: RunState
    pidfd: int
    child: bool  # our child (status known) or adopted after a daemon restart
    console: Console | None
    exited: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    stopping: bool = False
    netns_fd: int = -1


class Supervisor:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.running: dict[str, Tracked] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._loop = asyncio.get_running_loop()

    def _lock(self, ctid: str) -> asyncio.Lock:
        return self._locks.setdefault(ctid, asyncio.Lock())

    # -- start -------------------------------------------------------------------------

    async def start(self, ctid: str) -> dict:
        async with self._lock(ctid):
            t0 = time.perf_counter()
            result = self._start_locked(ctid)
            # the daemon-side cost of a start (what bench/ compares with lxc-start -d)
            result["elapsed_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            return result

    def _start_locked(self, ctid: str) -> dict:
        lifecycle.require(self.host, ctid)
        if ctid in self.running:
            raise StateConflict(f"container {ctid} is already running")
        started = operations.start(self.host, ctid)
        console = None
        if started.console_master is not None:
            console = Console(ctid, started.console_master, self.host.paths.ct_console_log(ctid))
        self._track(started.state, os.pidfd_open(started.state.pid), True, console)
        log.info("started %s (init pid %d)", ctid, started.state.pid)
        for w in started.warnings:
            log.warning("%s: %s", ctid, w)
        return {**self._describe(ctid), "warnings": started.warnings}

    def _track(self, st: RunState, pidfd: int, child: bool, console: Console | None) -> None:
        t = Tracked(st, pidfd, child, console)
        t.netns_fd = operations.open_netns(st.pid)
        self.running[st.ctid] = t
        self._loop.add_reader(pidfd, self._on_exit, st.ctid)

    # -- exit --------------------------------------------------------------------------

    def _on_exit(self, ctid: str) -> None:
        t = self.running.pop(ctid)
        self._loop.remove_reader(t.pidfd)
        os.close(t.pidfd)
        status = None
        if t.child:
            try:
                _, status = os.waitpid(t.state.pid, 0)
            except ChildProcessError:
                pass
        # The kernel reports reboot(2) inside a pid namespace as its init dying of SIGHUP
        # (restart) or SIGINT (power off / halt).
        reboot = (
            status is not None
            and os.WIFSIGNALED(status)
            and os.WTERMSIG(status) == signal.SIGHUP
            and not t.stopping
        )
        if t.console is not None:
            t.console.close()
        try:
            # nothing to do if the library stopped it (and cleaned up) in another process
            if not operations.finish(self.host, t.state, t.netns_fd):
                log.info("%s: already cleaned up by whoever stopped it", ctid)
        except Exception as e:
            log.error("cleanup of %s: %s", ctid, e)
        if t.netns_fd >= 0:
            os.close(t.netns_fd)
        how = "reboot" if reboot else "stopped"
        log.info("%s: init exited (%s): %s", ctid, _status_text(status), how)
        if not t.exited.done():
            t.exited.set_result(how)
        if reboot:
            self._loop.create_task(self._reboot(ctid))

    async def _reboot(self, ctid: str) -> None:
        try:
            await self.start(ctid)
        except Exception as e:
            log.error("restart of %s after reboot failed: %s", ctid, e)

    # -- stop --------------------------------------------------------------------------

    async def stop(self, ctid: str, timeout: float | None = None, kill: bool = False) -> dict:
        async with self._lock(ctid):
            cfg = lifecycle.require(self.host, ctid)
            t = self._adopt(ctid)
            if t is None:
                if kill and self._kill_unrecorded(ctid):
                    return {"id": ctid, "status": "stopped", "shutdown": "killed"}
                raise StateConflict(f"container {ctid} is not running")
            t.stopping = True
            operations.thaw(t.state)
            wait = float(cfg.stop_timeout if timeout is None else timeout)
            how = "killed"
            if not kill and wait > 0:
                try:
                    signal.pidfd_send_signal(t.pidfd, t.state.stop_signal)
                    await asyncio.wait_for(asyncio.shield(t.exited), wait)
                    how = "clean"
                except (TimeoutError, ProcessLookupError):
                    pass
            if not t.exited.done():
                try:
                    signal.pidfd_send_signal(t.pidfd, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await asyncio.wait_for(asyncio.shield(t.exited), KILL_WAIT)
            return {"id": ctid, "status": "stopped", "shutdown": how}

    def _kill_unrecorded(self, ctid: str) -> bool:
        """`stop --kill` of a container hutchd does not track (operations.kill_unrecorded)."""
        with container_lock(self.host.paths, ctid, wait=operations.LOCK_WAIT):
            if not operations.kill_unrecorded(self.host, ctid):
                return False
        log.warning("%s: killed what ran in its groups without a readable run state", ctid)
        return True

    async def freeze(self, ctid: str) -> dict:
        async with self._lock(ctid):
            t = self._running(ctid)
            operations.freeze(self.host, t.state)
            log.info("froze %s", ctid)
            return {"id": ctid, "status": "frozen"}

    async def unfreeze(self, ctid: str) -> dict:
        async with self._lock(ctid):
            t = self._running(ctid)
            operations.unfreeze(self.host, t.state)
            log.info("thawed %s", ctid)
            return {"id": ctid, "status": "running"}

    # -- checkpoint / restore -------------------------------------------------------------

    async def checkpoint(
        self, ctid: str, directory: str | None = None, keep_running: bool = False
    ) -> dict:
        """Dump the container with CRIU; it stops (CRIU ends it) unless `keep_running`."""
        async with self._lock(ctid):
            t = self._running(ctid)
            cfg = effective_config(self.host, ctid)  # a live address or limit is dumped too
            images = operations.images_dir(self.host, ctid, directory)
            # CRIU blocks this loop for the dump; the container is frozen meanwhile anyway
            t.stopping = not keep_running  # its init's exit is no reboot
            try:
                result = operations.checkpoint(self.host, cfg, t.state, images, keep_running)
            except BaseException:
                t.stopping = False
                raise
            if not keep_running:
                await asyncio.wait_for(asyncio.shield(t.exited), KILL_WAIT)
            log.info("checkpointed %s into %s (%.0f ms)", ctid, images, result["dump_ms"])
            return {"id": ctid, "status": "running" if keep_running else "stopped", **result}

    async def restore(self, ctid: str, directory: str | None = None) -> dict:
        """Restore the container from a checkpoint; a default one is used up by it."""
        async with self._lock(ctid):
            lifecycle.require(self.host, ctid)
            if ctid in self.running:
                raise StateConflict(f"container {ctid} is already running")
            images = operations.images_dir(self.host, ctid, directory)
            started, elapsed = operations.restore(self.host, ctid, images)
            console = None
            if started.console_master is not None:
                console = Console(
                    ctid, started.console_master, self.host.paths.ct_console_log(ctid)
                )
            self._track(started.state, os.pidfd_open(started.state.pid), True, console)
            if directory is None:
                shutil.rmtree(images, ignore_errors=True)  # restored: not to be used twice
            log.info("restored %s (init pid %d, %.0f ms)", ctid, started.state.pid, elapsed)
            return {**self._describe(ctid), "restore_ms": elapsed, "warnings": started.warnings}

    # -- settings ----------------------------------------------------------------------

    async def settings(
        self,
        ctid: str,
        changes: dict[str, Any],
        save: bool,
        add: dict[str, list[str]],
        remove: dict[str, list[str]],
    ) -> dict:
        """`hutch set`: hutchd is the one writer while it runs (the library takes the
        container's lock as well, for the CLI without hutchd)."""
        async with self._lock(ctid):
            result = change_settings(self.host, ctid, changes, save, add=add, remove=remove)
            if result.applied:
                log.info("%s: applied %s", ctid, ", ".join(result.applied))
            return {"id": ctid, **result.to_dict()}

    def _running(self, ctid: str) -> Tracked:
        lifecycle.require(self.host, ctid)
        t = self._adopt(ctid)
        if t is None:
            raise StateConflict(f"container {ctid} is not running")
        return t

    def _adopt(self, ctid: str) -> Tracked | None:
        """The tracked container `ctid`; one hutchd does not track but whose init is alive
        (started by the library in another process, `hutch.Container.start()`) is adopted
        now, as at a daemon restart. None if it does not run."""
        t = self.running.get(ctid)
        if t is not None:
            return t
        try:
            st = RunState.load(self.host.paths, ctid)
        except StateConflict:
            return None  # unreadable: left alone, as at a restart ('stop --kill' ends it)
        if st is None:
            return None
        try:
            pidfd = os.pidfd_open(st.pid)
        except ProcessLookupError:
            return None
        if not st.alive():
            os.close(pidfd)
            return None
        self._track(st, pidfd, False, self._reattach_console(st))
        log.info("adopted %s (init pid %d, started without hutchd)", ctid, st.pid)
        return self.running[ctid]

    async def restart(self, ctid: str, timeout: float | None = None) -> dict:
        lifecycle.require(self.host, ctid)
        if self._adopt(ctid) is not None:
            await self.stop(ctid, timeout)
        return await self.start(ctid)

    async def stop_all_on_exit(self) -> None:
        """hutchd leaving: keep containers running, just let go of them."""
        for t in list(self.running.values()):
            self._loop.remove_reader(t.pidfd)
            os.close(t.pidfd)
            if t.netns_fd >= 0:
                os.close(t.netns_fd)
            if t.console is not None:
                t.console.close()
        self.running.clear()

    # -- adoption ----------------------------------------------------------------------

    def adopt_all(self) -> None:
        """Take over every container still running from an earlier hutchd."""
        state_dir = self.host.paths.run / "containers"
        for path in sorted(state_dir.glob("*.json")) if state_dir.is_dir() else []:
            if "." in path.stem:
                continue  # ID.maxheld.json and the like
            try:
                st = RunState.load_file(path)
            except StateConflict as e:
                log.error("%s (left alone: 'hutch stop --kill' ends it)", e)
                continue
            if st is None:
                continue
            try:
                pidfd = os.pidfd_open(st.pid)
            except ProcessLookupError:
                pidfd = -1
            if pidfd >= 0 and st.alive():
                console = self._reattach_console(st)
                self._track(st, pidfd, False, console)
                log.info("adopted %s (init pid %d)", st.ctid, st.pid)
                continue
            if pidfd >= 0:
                os.close(pidfd)
            log.info("%s stopped while hutchd was away: cleaning up", st.ctid)
            try:
                cleanup(self.host, st.ctid, st.cgroups, st.net)
            except OSError as e:
                log.error("cleanup of %s: %s", st.ctid, e)
        self._undo_interrupted_starts(state_dir)

    def _undo_interrupted_starts(self, state_dir: Path) -> None:
        """A start killed between making the container's groups and writing its run state
        left groups nobody records (and maybe an init waiting for a go that never comes):
        nothing would ever stop or remove them, so undo that start. A group with a state
        file, even an unreadable one, is left alone: that container may well be running."""
        recorded = {p.stem for p in state_dir.glob("*.json")} if state_dir.is_dir() else set()
        subtree = self.host.cgroups.subtree
        names: set[str] = set()
        for _, mnt in self.host.cgroups.hierarchies():
            try:
                names |= {d.name for d in (mnt / subtree).iterdir() if d.is_dir()}
            except FileNotFoundError:
                pass
        for ctid in sorted(names - recorded - set(self.running)):
            log.warning("%s: cgroups without a run state (a start was interrupted): removed", ctid)
            try:
                cleanup(self.host, ctid, self.host.cgroups.find(ctid))
            except OSError as e:
                log.error("cleanup of %s: %s", ctid, e)

    def _reattach_console(self, st: RunState) -> Console | None:
        if not st.console:
            return None
        from hutch.container.console import replace_console

        try:
            master = replace_console(st)
        except OSError as e:
            log.warning("%s: console not recovered: %s", st.ctid, e)
            return None
        return Console(st.ctid, master, self.host.paths.ct_console_log(st.ctid))

    # -- views -------------------------------------------------------------------------

    def console(self, ctid: str) -> Console:
        t = self._running(ctid)
        if t.console is None or t.console.closed:
            raise NotFound(f"container {ctid} has no console")
        return t.console

    def _describe(self, ctid: str) -> dict:
        t = self.running[ctid]
        return {
            "id": ctid,
            "status": "running",
            "pid": t.state.pid,
            "adopted": not t.child,
            "console": t.console is not None,
        }

    def describe_all(self) -> list[dict]:
        for path in sorted((self.host.paths.run / "containers").glob("*.json")):
            if "." not in path.stem and path.stem not in self.running:
                self._adopt(path.stem)  # started by the library meanwhile
        return [self._describe(c) for c in sorted(self.running)]


def _status_text(status: int | None) -> str:
    if status is None:
        return "status unknown: adopted"
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.WEXITSTATUS(status)}"
