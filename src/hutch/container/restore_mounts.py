"""A restored container's mount namespace, made by hutch as a start makes it: every mask and
read-only mount locked against the container's root (issue 12 item 3).

CRIU would remake the dumped mounts itself, from inside the container's user namespace, so
none would be locked. Instead (see hutch.criu.images) CRIU's restored tasks join the mount
namespace that this process, the *mount maker*, prepares while CRIU runs:

    hutchd ──fork──> mount maker: its own mount namespace M0 (the host's user namespace):
                     the rootfs (overlay, image), /dev (outside plan)
    criu restore     makes the root task (PID 1 of the new pid namespace) in its user, pid,
                     net, ipc, uts namespaces, then runs the action script:
      setup-namespaces       the maker's child joins the root task's pid, net and ipc
                             namespaces and makes the mount plan (proc, sysfs, masks,
                             read-only binds) in M0; [in a user namespace (unprivileged, or
                             privileged's identity map): the maker joins the
                             root task's user namespace and unshares M1, where the kernel
                             locks every mount copied from M0]; the console bound, then
                             pivot_root to the rootfs, as the init of a start does
      (the root task joins the maker's namespace: --join-ns mnt:MAKER)
      post-setup-namespaces  the maker joins the root task's cgroup namespace and mounts
                             /sys/fs/cgroup (the container's own view, not locked, as at start)

The action script (written here) and the maker talk over two FIFOs in a directory only the
host's root may enter: a request line `ACTION PID`, an answer `ok` or `fail`. What went wrong
goes to ERRORS beside CRIU's log. hutchd kills the maker when criu has finished.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hutch.container.mounts import Op, execute_plan
from hutch.linux import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.storage.backends import RootMount

ERRORS = "restore.mounts.log"  # in the images directory, read into the restore's error
ANSWER_TIMEOUT = 120  # seconds the action script waits for the maker


@dataclass(frozen=True)
class MountSpec:
    rootfs: str
    outside_plan: tuple[Op, ...]
    plan: tuple[Op, ...]
    console_plan: tuple[Op, ...]
    cgroup_plan: tuple[Op, ...]
    userns: bool  # the container has a user namespace: its mount namespace is M1
    root_mount: RootMount | None = None


def action_script(ctl: Path) -> str:
    """The shell script CRIU runs at each action: the two namespace steps ask the maker."""
    req, ack = ctl / "req", ctl / "ack"
    return f"""#!/bin/sh
case "$CRTOOLS_SCRIPT_ACTION" in
setup-namespaces|post-setup-namespaces) ;;
*) exit 0 ;;
esac
timeout {ANSWER_TIMEOUT} sh -c 'echo "$0" > "$1"' \\
    "$CRTOOLS_SCRIPT_ACTION $CRTOOLS_INIT_PID" '{req}' || exit 1
answer=$(timeout {ANSWER_TIMEOUT} head -n 1 '{ack}')
[ "$answer" = ok ]
"""


def prepare_ctl(ctl: Path) -> Path:
    """The FIFOs and the action script in `ctl` (made here, root's only); the script's path."""
    ctl.mkdir(mode=0o700)
    os.mkfifo(ctl / "req", 0o600)
    os.mkfifo(ctl / "ack", 0o600)
    script = ctl / "hook"
    script.write_text(action_script(ctl))
    script.chmod(0o700)
    return script


class Maker:
    """The mount maker, seen from hutchd: started, waited on beside criu, stopped."""

    def __init__(self, spec: MountSpec, ctl: Path, errors: Path, userns: int | None) -> None:
        """Fork it. `userns`: a user namespace fd for an overlay's idmapped template, as at
        start."""
        self.ctl = ctl
        self.reaped = False
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - the maker
            _maker(spec, ctl, errors, userns)

    def wait_criu(self, criu: int) -> int:
        """Wait for criu's end; its wait status. Should the maker die first, the action
        script waiting for it is told `fail` at once (criu then gives up and says why)."""
        while True:
            pid, status = os.waitpid(criu, os.WNOHANG)
            if pid:
                return status
            if not self.reaped and os.waitpid(self.pid, os.WNOHANG)[0]:
                self.reaped = True
                fd = os.open(self.ctl / "ack", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
                try:
                    os.write(fd, b"fail\n")
                finally:
                    os.close(fd)
            time.sleep(0.005)

    def stop(self) -> None:
        """End it (the restored tasks hold their mount namespace by themselves)."""
        if not self.reaped:
            self.reaped = True
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


class _Channel:  # pragma: no cover - in the maker
    """The maker's ends of the FIFOs and of its error file, opened while it is still the
    host's root in the host's root (it is neither after joining the user namespace and
    pivoting). Both FIFOs are held open for reading and writing: the script's open never
    blocks while the maker lives, and lines, not EOF, end a message."""

    def __init__(self, ctl: Path, errors: Path) -> None:
        self.req = os.open(ctl / "req", os.O_RDWR | os.O_CLOEXEC)
        self.ack = os.open(ctl / "ack", os.O_RDWR | os.O_CLOEXEC)
        self.err = os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)

    def request(self) -> tuple[str, int]:
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(self.req, 1)
            if not chunk:
                raise OSError("the action script went away")
            line += chunk
        action, _, pid = line.decode().strip().partition(" ")
        return action, int(pid)

    def answer(self, word: str) -> None:
        os.write(self.ack, word.encode() + b"\n")

    def note(self, e: BaseException) -> None:
        os.write(self.err, f"Error (hutch): {e}\n".encode())


def _join(pid: int, name: str, flag: int) -> None:  # pragma: no cover
    fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(fd, flag, f"{name} of {pid}")
    finally:
        os.close(fd)


def _execute_in(rootfs: str, plan: tuple[Op, ...]) -> None:  # pragma: no cover
    rootfd = os.open(rootfs, sc.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        execute_plan(list(plan), rootfd)
    finally:
        os.close(rootfd)


def _mount_plan(spec: MountSpec, pid: int, ch: _Channel) -> None:  # pragma: no cover
    """The plan, made in M0 by a grandchild in the root task's pid namespace (only a process
    in a pid namespace mounts its proc), net namespace (sysfs) and ipc namespace (mqueue)."""
    child = os.fork()
    if child == 0:
        try:
            for name, flag in (("net", sc.CLONE_NEWNET), ("ipc", sc.CLONE_NEWIPC)):
                _join(pid, name, flag)
            _join(pid, "pid", sc.CLONE_NEWPID)
            grandchild = os.fork()
            if grandchild == 0:
                try:
                    _execute_in(spec.rootfs, spec.plan)
                    _criu_proc()
                    os._exit(0)
                except BaseException as e:
                    ch.note(e)
                    os._exit(1)
            _, status = os.waitpid(grandchild, 0)
            os._exit(os.waitstatus_to_exitcode(status))
        except BaseException as e:
            ch.note(e)
            os._exit(1)
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError("the mount plan failed (above)")


SCRATCH = "/mnt"  # a tmpfs of M0's own, outside the rootfs: CRIU's visible proc


def _criu_proc() -> None:  # pragma: no cover - in the plan's grandchild
    """A bare proc outside the rootfs, for CRIU's root task: a user namespace may mount a
    proc (CRIU does, for its own use) only where one is fully visible, and the container's
    is not (its masks are locked: that is what keeps the container from mounting an
    unmasked one). It leaves with the old root at pivot_root."""
    os.makedirs(f"{SCRATCH}/proc", 0o700, exist_ok=True)
    sc.mount("proc", f"{SCRATCH}/proc", "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)


def _in_child(fn: Callable[[], None], ch: _Channel) -> None:  # pragma: no cover
    child = os.fork()
    if child == 0:
        try:
            fn()
            os._exit(0)
        except BaseException as e:
            ch.note(e)
            os._exit(1)
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError("failed (above)")


def _pivot(spec: MountSpec) -> None:  # pragma: no cover
    """As the init of a start: the root a bind of the rootfs attached over it (pivot_root
    refuses a locked new root), the console bound on it (not locked: a new hutchd replaces
    it), then pivot_root. The working directory is the rootfs (see _maker)."""
    rootfd = sc.open_tree(".", sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | sc.AT_RECURSIVE)
    sc.move_mount(rootfd, ".")
    if spec.console_plan:
        execute_plan(list(spec.console_plan), rootfd)
    os.fchdir(rootfd)
    os.close(rootfd)
    sc.pivot_root(".", ".")
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def _maker(  # pragma: no cover - runs in the forked maker
    spec: MountSpec, ctl: Path, errors: Path, userns: int | None
) -> None:
    step = "mount namespace"
    ch = None
    try:
        signal.set_wakeup_fd(-1)
        ch = _Channel(ctl, errors)
        sc.set_pdeathsig(signal.SIGKILL)
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
        if spec.root_mount is not None:
            step = "rootfs"
            spec.root_mount.execute(spec.rootfs, userns)
        if userns is not None:
            os.close(userns)
        step = "outside mounts"
        _execute_in(spec.rootfs, spec.outside_plan)
        # the rootfs as the working directory while the maker is the host's root: no path
        # to search later, in the container's user namespace (as a start's init)
        os.chdir(spec.rootfs)
        step = "waiting for criu"
        action, pid = ch.request()
        try:
            if action != "setup-namespaces":
                raise OSError(f"criu ran {action} first")
            step = "mounts"
            sc.mount("tmpfs", SCRATCH, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "mode=700,size=4k")
            _mount_plan(spec, pid, ch)
            if spec.userns:
                step = "user namespace"
                _join(pid, "user", sc.CLONE_NEWUSER)
                os.setgroups([])
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
                # copied into a mount namespace of the container's user namespace: every
                # mount of M0 locked, as at start
                step = "mount namespace of the container"
                sc.unshare(sc.CLONE_NEWNS)
            if spec.userns:
                # the root task, root of the same user namespace, opens /proc/MAKER/ns/mnt:
                # the uid change made the maker undumpable, which refuses that. No process
                # of the container runs yet, and none will see the maker (another pid ns).
                sc.prctl(sc.PR_SET_DUMPABLE, 1)
        except BaseException:
            ch.answer("fail")
            raise
        ch.answer("ok")
        step = "waiting for criu"
        action, pid = ch.request()
        try:
            step = "cgroup mounts"
            if action != "post-setup-namespaces":
                raise OSError(f"criu ran {action} instead of post-setup-namespaces")
            # pivot_root moves every process of the namespace whose root is the old root:
            # the root task too, which only now opens its root (and has run the host's ip
            # tool to restore its network, as CRIU always does)
            step = "cgroup namespace"
            cgns = os.open(f"/proc/{pid}/ns/cgroup", os.O_RDONLY | os.O_CLOEXEC)
            pidns = os.open(f"/proc/{pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            step = "pivot_root"
            _pivot(spec)  # (the /proc of the host's pids is gone from here on)
            step = "cgroup mounts"
            sc.setns(cgns, sc.CLONE_NEWCGROUP, "cgroup")
            os.close(cgns)
            # made by a child in the container's pid namespace: the plan resolves its
            # paths through /proc/self, which is the container's proc now
            sc.setns(pidns, sc.CLONE_NEWPID, "pid")
            os.close(pidns)
            if spec.cgroup_plan:
                _in_child(lambda: _execute_in("/", spec.cgroup_plan), ch)
        except BaseException:
            ch.answer("fail")
            raise
        ch.answer("ok")
        while True:  # hold the namespace until hutchd ends the maker
            signal.pause()
    except BaseException as e:
        if ch is not None:
            ch.note(OSError(f"preparing the mounts: {step}: {e}"))
        os._exit(1)
