"""The synchronous core of what runs a container: start, stop, freeze, checkpoint, restore.

`hutch.Container` calls these in its own process; hutchd's supervisor calls the same steps
around its asynchronous waiting, consoles and reboot handling. Whoever runs them, each
mutating step holds the container's lock, and the cleanup after an init's exit happens
once: the second one (hutchd's exit handler after a library stop, or the other way round)
finds the run state gone, or naming another run, and does nothing.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from pathlib import Path

from hutch.config import ContainerConfig
from hutch.container import lifecycle
from hutch.container.context import HostContext
from hutch.container.lock import container_lock
from hutch.container.runtime import Started, cleanup, launch
from hutch.container.state import RunState
from hutch.errors import OperationFailed, StateConflict

KILL_WAIT = 10.0  # after SIGKILL the kernel needs a moment to tear a pid namespace down
LOCK_WAIT = 2.0  # seconds to wait for another operation on the container


def start(host: HostContext, ctid: str, with_console: bool = True) -> Started:
    """Start stopped `ctid`: check, lock, launch. The init is the caller's child."""
    cfg = lifecycle.require(host, ctid)
    with container_lock(host.paths, ctid, wait=LOCK_WAIT):
        refuse_alive(host, ctid)
        return launch(host, cfg, with_console)


def refuse_alive(host: HostContext, ctid: str) -> None:
    """Refuse to start a running `ctid`. A run whose init died on its own (a poweroff
    inside a container the library started) is cleaned up first; one that left processes
    in its groups is left for `launch` to refuse. The caller holds the lock."""
    st = RunState.load(host.paths, ctid)
    if st is None:
        return
    if st.alive():
        raise StateConflict(f"container {ctid} is already running")
    if not host.cgroups.find(ctid).pids():
        finish(host, st, locked=True)


def running(host: HostContext, ctid: str) -> RunState:
    """The run state of running `ctid` (StateConflict if it does not run)."""
    lifecycle.require(host, ctid)
    st = RunState.load(host.paths, ctid)
    if st is None or not st.alive():
        raise StateConflict(f"container {ctid} is not running", hint=f"hutch start {ctid}")
    return st


def open_netns(pid: int) -> int:
    """Hold the container's network namespace (-1 if it cannot be opened): once the init
    is gone it would vanish at once, and a host NIC lent to the container must be handed
    back first."""
    try:
        return os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


def thaw(st: RunState) -> None:
    """A frozen container cannot act on a signal: thaw it before stopping."""
    for _name, path in st.cgroup:
        for knob, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
            p = os.path.join(path, knob)
            if os.path.exists(p):
                try:
                    with open(p, "w") as f:
                        f.write(value)
                except OSError:
                    pass


def finish(host: HostContext, st: RunState, netns_fd: int = -1, locked: bool = False) -> bool:
    """After the init of run `st` exited: kill stragglers, remove its cgroups, network
    objects and run state, with the network record as saved now (`hutch set` may have
    changed it since the start). Idempotent: False, doing nothing, when the run state is
    gone or names another run (someone cleaned up already, or started it again)."""
    if not locked:
        held = contextlib.ExitStack()
        try:
            held.enter_context(container_lock(host.paths, st.ctid, wait=10.0))
        except (OperationFailed, StateConflict):
            # its lock file is unusable, or held for 10 s by an operation that hangs: what
            # stopped is cleaned all the same (every step takes "already gone" as done)
            pass
        with held:
            return finish(host, st, netns_fd, locked=True)
    try:
        saved = RunState.load(host.paths, st.ctid)
    except StateConflict:
        saved = st  # unreadable: what it started with will do
    if saved is None or saved.pid != st.pid or saved.starttime != st.starttime:
        return False
    netns = f"/proc/self/fd/{netns_fd}" if netns_fd >= 0 else None
    cleanup(host, st.ctid, st.cgroups, saved.net, netns)
    return True


def kill_unrecorded(host: HostContext, ctid: str) -> bool:
    """`stop --kill` of a container nobody tracks, whose run state is unreadable or whose
    groups still hold processes (what `start` refuses on): end them, remove the groups and
    the state. True if there was anything to end. The caller holds the lock."""
    cg = host.cgroups.find(ctid)
    try:
        RunState.load(host.paths, ctid)
        unreadable = False
    except StateConflict:
        unreadable = True
    if not (unreadable or (cg.exists() and cg.pids())):
        return False
    cleanup(host, ctid, cg)
    return True


def wait_exit(pidfd: int, seconds: float) -> bool:
    """Wait up to `seconds` for the process of `pidfd` to exit (a child or not)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bool(poller.poll(0))
        try:
            if poller.poll(left * 1000):
                return True
        except InterruptedError:
            continue


def reap(pid: int) -> None:
    """Collect the exit status of an init that is our child; not ours (hutchd's, or
    adopted by another process) is fine too."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(host: HostContext, ctid: str, timeout: float | None = None, kill: bool = False) -> str:
    """Stop running `ctid` in this process: its stop signal, then SIGKILL after `timeout`
    (default: its stop_timeout). Returns "clean" or "killed"."""
    cfg = lifecycle.require(host, ctid)
    with container_lock(host.paths, ctid, wait=LOCK_WAIT):
        st = RunState.load(host.paths, ctid)
        if st is None or not st.alive():
            if kill and kill_unrecorded(host, ctid):
                return "killed"
            if st is not None:
                finish(host, st, locked=True)  # died on its own: what it left goes
            raise StateConflict(f"container {ctid} is not running")
        try:
            pidfd = os.pidfd_open(st.pid)
        except ProcessLookupError:
            finish(host, st, locked=True)
            raise StateConflict(f"container {ctid} is not running") from None
        netns_fd = open_netns(st.pid)
        try:
            how = end_init(st, pidfd, float(cfg.stop_timeout if timeout is None else timeout), kill)
            reap(st.pid)
            finish(host, st, netns_fd, locked=True)
        finally:
            os.close(pidfd)
            if netns_fd >= 0:
                os.close(netns_fd)
        return how


def end_init(st: RunState, pidfd: int, wait: float, kill: bool) -> str:
    """Thaw, send the stop signal, wait `wait` seconds, then SIGKILL."""
    thaw(st)
    if not kill and wait > 0:
        try:
            signal.pidfd_send_signal(pidfd, st.stop_signal)
            if wait_exit(pidfd, wait):
                return "clean"
        except ProcessLookupError:
            pass
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if not wait_exit(pidfd, KILL_WAIT):
        raise OperationFailed(f"container {st.ctid}: its init did not die of SIGKILL")
    return "killed"


def freeze(host: HostContext, st: RunState) -> None:
    with container_lock(host.paths, st.ctid, wait=LOCK_WAIT):
        if host.cgroups.frozen(st.cgroups):
            raise StateConflict(f"container {st.ctid} is already frozen")
        host.cgroups.freeze(st.cgroups)


def unfreeze(host: HostContext, st: RunState) -> None:
    with container_lock(host.paths, st.ctid, wait=LOCK_WAIT):
        if not host.cgroups.frozen(st.cgroups):
            raise StateConflict(f"container {st.ctid} is not frozen")
        host.cgroups.thaw(st.cgroups)


def images_dir(host: HostContext, ctid: str, directory: str | os.PathLike | None) -> Path:
    from hutch.container import checkpoint

    return Path(directory) if directory else checkpoint.default_dir(host, ctid)


def checkpoint(
    host: HostContext,
    cfg: ContainerConfig,
    st: RunState,
    images: Path,
    keep_running: bool = False,
) -> dict:
    """Dump running `st` with CRIU into `images`; the init ends unless `keep_running`."""
    from hutch.container import checkpoint

    with container_lock(host.paths, cfg.ctid, wait=LOCK_WAIT):
        return checkpoint.dump(host, cfg, st, images, keep_running)


def restore(host: HostContext, ctid: str, images: Path) -> tuple[Started, float]:
    """Restore stopped `ctid` from `images`; the restored init is the caller's child.
    Returns it and the milliseconds the restore took."""
    from hutch.container import checkpoint

    cfg = lifecycle.require(host, ctid)
    with container_lock(host.paths, ctid, wait=LOCK_WAIT):
        refuse_alive(host, ctid)
        t0 = time.perf_counter()
        started = checkpoint.restore(host, cfg, images)
    return started, round((time.perf_counter() - t0) * 1000, 1)
