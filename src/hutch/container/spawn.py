"""Create a container's init: new namespaces, the mount plan, pivot_root, exec.

Runs in hutchd (single-threaded, so fork is safe). The sequence:

    hutchd ──fork──> intermediate: unshare(mnt uts ipc net pid)
                         └──fork──> init (PID 1 of the new pid namespace)
                                     mounts, pivot_root, waits for "go", unshare(cgroup),
                                     hostname, lo up, console as controlling tty, exec init

The intermediate exits at once; hutchd is a child subreaper, so the init becomes its child.
Between "pid known" and "go" hutchd moves the init into its cgroup and configures what must
be set from outside (network), while the init builds its mounts.
Errors in the init before exec travel back on a close-on-exec pipe: EOF without a message
means exec succeeded.
"""

from __future__ import annotations

import fcntl
import os
import signal
import termios
from collections.abc import Callable
from dataclasses import dataclass, field

from hutch.cgroups.base import Cgroup
from hutch.container.mounts import Op, execute_plan
from hutch.container.nsflags import DEFAULT_PATH, NAMESPACE_FLAGS
from hutch.errors import OperationFailed
from hutch.linux import syscalls as sc
from hutch.network.loopback import loopback_up
from hutch.security import confine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.storage.backends import RootMount


@dataclass(frozen=True)
class InitSpec:
    ctid: str
    rootfs: str
    hostname: str
    argv: tuple[str, ...]
    plan: tuple[Op, ...]
    cgroup: Cgroup
    console_fd: int | None = None  # pty slave, becomes /dev/console and init's stdio
    env: tuple[str, ...] = field(default=())
    # mounts that need the cgroup namespace (the container's /sys/fs/cgroup)
    cgroup_plan: tuple[Op, ...] = field(default=())
    namespaces: int = NAMESPACE_FLAGS  # without CLONE_NEWNET: the host's network
    # mounted on `rootfs` in the new mount namespace first (overlay, image backends)
    root_mount: RootMount | None = None
    # then given the rootfs path to write files into it (host name, resolv.conf) where the
    # host cannot: the root of an overlay or image exists in that namespace only
    root_files: Callable[[str], None] | None = None
    # capabilities dropped and seccomp filter loaded right before exec (None: neither)
    confinement: confine.Confinement | None = None

    def environ(self) -> dict[str, str]:
        env = {"container": "hutch", "PATH": DEFAULT_PATH, "TERM": "linux", "HOME": "/"}
        for item in self.env:
            key, _, value = item.partition("=")
            env[key] = value
        return env


def spawn(spec: InitSpec, before_go: Callable[[int], None] | None = None) -> int:
    """Start the container init; returns its host pid once it has exec'd."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked child
        # a pipe reader sees EOF only when every writer is closed: drop the parent's ends
        for fd in (err_r, pid_r, go_w):
            os.close(fd)
        _intermediate(spec, err_w, pid_w, go_r)
    for fd in (err_w, pid_w, go_r):
        os.close(fd)
    init_pid = 0
    try:
        os.waitpid(child, 0)
        raw = _read_all(pid_r)
        if not raw:
            msg = _read_all(err_r).decode(errors="replace").strip()
            raise OperationFailed(f"cannot start {spec.ctid}: {msg or 'setup process failed'}")
        init_pid = int(raw)
        # The init builds its mounts meanwhile: a new process's first cgroup migration
        # waits for an RCU grace period (~10 ms here), which this overlaps.
        spec.cgroup.attach(init_pid)
        if before_go is not None:
            before_go(init_pid)
        os.write(go_w, b"1")
        os.close(go_w)
        go_w = -1
        msg = _read_all(err_r).decode(errors="replace").strip()
        if msg:
            os.waitpid(init_pid, 0)
            init_pid = 0
            raise OperationFailed(f"cannot start {spec.ctid}: {msg}")
        return init_pid
    except BaseException:
        if init_pid:
            kill_and_reap(init_pid)
        raise
    finally:
        for fd in (err_r, pid_r, go_w):
            if fd >= 0:
                os.close(fd)


def kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            b = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def _fail(err_w: int, stage: str, e: BaseException) -> None:  # pragma: no cover
    try:
        os.write(err_w, f"{stage}: {e}".encode())
    finally:
        os._exit(127)


def _intermediate(spec: InitSpec, err_w: int, pid_w: int, go_r: int) -> None:  # pragma: no cover
    try:
        signal.set_wakeup_fd(-1)
        # every namespace but the cgroup one: that is entered after hutchd has moved the
        # init into its cgroup (see spawn), so the init's cgroup is its namespace root
        sc.unshare(spec.namespaces & ~sc.CLONE_NEWCGROUP)
        pid = os.fork()
        if pid == 0:
            os.close(pid_w)
            _init(spec, err_w, go_r)
        os.write(pid_w, str(pid).encode())
        os._exit(0)
    except BaseException as e:
        _fail(err_w, "namespaces", e)


def _reset_signals() -> None:  # pragma: no cover
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _init(spec: InitSpec, err_w: int, go_r: int) -> None:  # pragma: no cover
    stage = "wait"
    try:
        _reset_signals()
        stage = "mounts"
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
        if spec.root_mount is not None:
            stage = "rootfs"
            spec.root_mount.execute(spec.rootfs)
        if spec.root_files is not None:
            stage = "rootfs files"
            spec.root_files(spec.rootfs)
        stage = "mounts"
        sc.mount(spec.rootfs, spec.rootfs, None, sc.MS_BIND | sc.MS_REC)
        rootfd = os.open(spec.rootfs, sc.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        execute_plan(list(spec.plan), rootfd)
        stage = "pivot_root"
        os.fchdir(rootfd)
        os.close(rootfd)
        sc.pivot_root(".", ".")
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
        stage = "wait"
        if os.read(go_r, 1) != b"1":
            os._exit(1)  # hutchd gave up on this start
        os.close(go_r)
        stage = "cgroup namespace"
        sc.unshare(sc.CLONE_NEWCGROUP)
        if spec.cgroup_plan:
            stage = "cgroup mounts"
            rootfd = os.open("/", sc.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            execute_plan(list(spec.cgroup_plan), rootfd)
            os.close(rootfd)
        stage = "hostname"
        sc.sethostname(spec.hostname)
        stage = "loopback"
        loopback_up()
        stage = "console"
        os.setsid()
        if spec.console_fd is not None:
            tty = os.open("/dev/console", os.O_RDWR | os.O_NOCTTY)
            fcntl.ioctl(tty, termios.TIOCSCTTY, 0)
        else:
            tty = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(tty, fd)
        if tty > 2:
            os.close(tty)
        # nothing of hutchd's may reach the container: close every fd but stdio and the
        # (close-on-exec) error pipe
        os.closerange(3, err_w)
        os.closerange(err_w + 1, 1 << 20)
        if spec.confinement is not None:
            # last: the filter refuses calls the steps above may make
            stage = "capabilities and seccomp"
            confine.apply(spec.confinement)
        stage = f"exec {spec.argv[0]}"
        os.execve(spec.argv[0], list(spec.argv), spec.environ())
    except BaseException as e:
        _fail(err_w, stage, e)
