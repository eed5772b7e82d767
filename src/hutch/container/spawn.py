"""Create a container's init: new namespaces, the mount plan, pivot_root, exec.

Runs in hutchd (single-threaded, so fork is safe). The sequence:

    hutchd ──fork──> intermediate, the host's root: its own mount namespace M0; mounts the
                     rootfs (overlay, image) and /dev
             ├─fork─> maker: joins the container's user namespace, becomes its root;
             │        unshare(uts ipc net pid), so they belong to that user ns
             │           └──fork──> init, PID 1 of the new pid namespace; waits
             └─fork─> mounter: joins the init's pid, net and ipc namespaces as the host's
                      root and makes the mount plan (proc, sysfs, devpts, masks, read-only
                      binds) in M0 for the init, then exits
    init: unshare(mnt), pivot_root, waits for "go"; unshare(cgroup), hostname, lo up,
          console as controlling tty, exec init

The user namespace is made first, by a short-lived helper whose maps hutchd writes (only a
process outside may write them). Every namespace made after joining it belongs to it: that
gives the container's root its powers over its own hostname, network, processes and mounts,
and none over the host's. All of hutch's mounts are made by the host's root, in a mount
namespace of the host's user namespace; the init copies them into a mount namespace of its
own user namespace, where the kernel locks them: nothing inside can unmount a mask or make a
read-only mount writable again. Only a process inside the new pid namespace may mount its
proc, hence the mounter.

A privileged container gets a user namespace too, one that maps every ID to itself
(hutch.security.idmap.IDENTITY): its IDs are the host's, unshifted, but what the kernel
checks in the host's user namespace stays out of its reach. Without it, CAP_NET_ADMIN in
the host's user namespace lets rtnetlink requests with IFLA_TARGET_NETNSID (the id the
container's network namespace holds for the host's) list and change the host's links, and
mknod of any device, SCHED_FIFO over the host's CPUs and unlocked masks come with it.

The intermediate reports the init's pid at once and exits when the mounts are made; hutchd
is a child subreaper, so the init becomes its child. Between "pid known" and "go" hutchd
moves the init into its cgroup and configures what must be set from outside (network),
while the mounter works.
Errors before exec travel back on a close-on-exec pipe: EOF without a message means exec
succeeded.
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
from hutch.security.idmap import userns_map

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.security.idmap import IdMap
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
    # how the IDs are shifted (None: privileged, not shifted: its user namespace maps every
    # ID to itself, and an overlay's template needs no idmapped mount)
    idmap: IdMap | None = None
    # mounts made by the host's root before the namespaces (/dev, maybe /sys)
    outside_plan: tuple[Op, ...] = field(default=())
    # made by the init itself, unlocked (/dev/console, which a new hutchd replaces)
    console_plan: tuple[Op, ...] = field(default=())

    def environ(self) -> dict[str, str]:
        env = {"container": "hutch", "PATH": DEFAULT_PATH, "TERM": "linux", "HOME": "/"}
        for item in self.env:
            key, _, value = item.partition("=")
            env[key] = value
        return env


def spawn(spec: InitSpec, before_go: Callable[[int], None] | None = None) -> int:
    """Start the container init; returns its host pid once it has exec'd."""
    userns = make_userns(userns_map(spec.idmap))
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    try:
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the forked child
            # a pipe reader sees EOF only when every writer is closed: drop the parent's ends
            for fd in (err_r, pid_r, go_w):
                os.close(fd)
            _intermediate(spec, userns, err_w, pid_w, go_r)
    finally:
        os.close(userns)  # the init holds the namespace from here on
    for fd in (err_w, pid_w, go_r):
        os.close(fd)
    init_pid = 0
    reaped = False
    try:
        raw = _read_all(pid_r)  # EOF: the intermediate wrote the pid, or died
        if not raw:
            os.waitpid(child, 0)
            reaped = True
            msg = _read_all(err_r).decode(errors="replace").strip()
            raise OperationFailed(f"cannot start {spec.ctid}: {msg or 'setup process failed'}")
        init_pid = int(raw)
        # While the mounter makes the init's mounts: a new process's first cgroup migration
        # waits for an RCU grace period (~10-20 ms here), and the network is set up.
        spec.cgroup.attach(init_pid)
        if before_go is not None:
            before_go(init_pid)
        os.waitpid(child, 0)  # the intermediate ends when the mounts are made
        reaped = True
        try:
            os.write(go_w, b"1")
        except BrokenPipeError:
            pass  # the init died setting up: its message is on the error pipe
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
        if not reaped:
            kill_and_reap(child)
        raise
    finally:
        for fd in (err_r, pid_r, go_w):
            if fd >= 0:
                os.close(fd)


def make_userns(idmap: IdMap) -> int:
    """A new user namespace with `idmap` as its uid and gid map; returns an fd of it.

    A helper child unshares it and waits; hutchd writes the maps from outside (root of the
    parent namespace may map any range) and keeps an fd; the helper then exits."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - helper child
        try:
            os.close(ready_r)
            os.close(done_w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(done_r, 1)  # EOF: hutchd has what it needs (or is gone)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OperationFailed("cannot make a user namespace (unshare failed)")
        text = idmap.map_text().encode()
        try:
            for name in ("uid_map", "gid_map"):
                fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, text)
                finally:
                    os.close(fd)
            return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise OperationFailed(f"cannot map host IDs {idmap.base}+{idmap.size}: {e}") from None
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


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


def _intermediate(  # pragma: no cover
    spec: InitSpec, userns: int, err_w: int, pid_w: int, go_r: int
) -> None:
    stage = "mount namespace"
    try:
        signal.set_wakeup_fd(-1)
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
        if spec.root_mount is not None:
            stage = "rootfs"
            # an identity map needs no idmapped view of an overlay's template
            spec.root_mount.execute(spec.rootfs, userns if spec.idmap is not None else None)
        if spec.root_files is not None:
            stage = "rootfs files"
            spec.root_files(spec.rootfs)
        if spec.outside_plan:
            stage = "mounts"
            _execute_in(spec.rootfs, spec.outside_plan)
        # the init finds its root as its working directory: no path to search later
        os.chdir(spec.rootfs)
        stage = "namespaces"
        made_r, made_w = os.pipe2(os.O_CLOEXEC)
        mounted_r, mounted_w = os.pipe2(os.O_CLOEXEC)
        maker = os.fork()
        if maker == 0:
            for fd in (made_r, mounted_w, pid_w):
                os.close(fd)
            _maker(spec, userns, err_w, made_w, mounted_r, go_r)
        os.close(made_w)
        os.close(mounted_r)
        os.waitpid(maker, 0)
        raw = _read_all(made_r)
        if not raw:
            os._exit(1)  # the maker said why on the error pipe
        init = int(raw)
        # hutchd moves it into its cgroup and sets up its network meanwhile
        os.write(pid_w, str(init).encode())
        os.close(pid_w)
        stage = "join the init's namespaces"
        for name in ("pid", "net", "ipc"):
            fd = os.open(f"/proc/{init}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            sc.setns(fd, 0, name)
            os.close(fd)
        stage = "mounts"
        mounter = os.fork()
        if mounter == 0:  # in the init's pid namespace: a proc of its own can be mounted
            try:
                _execute_in(spec.rootfs, spec.plan)
                os._exit(0)
            except BaseException as e:
                _fail(err_w, "mounts", e)
        _, status = os.waitpid(mounter, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            os._exit(1)  # the mounter said why; the init sees EOF and exits
        os.write(mounted_w, b"1")
        os._exit(0)
    except BaseException as e:
        _fail(err_w, stage, e)


def _execute_in(rootfs: str, plan: tuple[Op, ...]) -> None:  # pragma: no cover
    rootfd = os.open(rootfs, sc.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        execute_plan(list(plan), rootfd)
    finally:
        os.close(rootfd)


def _maker(  # pragma: no cover
    spec: InitSpec, userns: int, err_w: int, made_w: int, mounted_r: int, go_r: int
) -> None:
    stage = "user namespace"
    try:
        sc.setns(userns, sc.CLONE_NEWUSER, "user")
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        stage = "namespaces"
        # every namespace but mnt (M0 is shared with the mounter) and cgroup: that one is
        # entered after hutchd has moved the init into its cgroup, so the init's cgroup is
        # its namespace root
        sc.unshare(spec.namespaces & ~sc.CLONE_NEWCGROUP & ~sc.CLONE_NEWNS)
        pid = os.fork()
        if pid == 0:
            os.close(made_w)
            _init(spec, err_w, mounted_r, go_r)
        os.write(made_w, str(pid).encode())
        os._exit(0)
    except BaseException as e:
        _fail(err_w, stage, e)


def _reset_signals() -> None:  # pragma: no cover
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _init(  # pragma: no cover
    spec: InitSpec, err_w: int, mounted_r: int, go_r: int
) -> None:
    stage = "mounts"
    try:
        _reset_signals()
        if os.read(mounted_r, 1) != b"1":
            os._exit(1)  # the mounter failed and said why
        os.close(mounted_r)
        # a mount namespace of its own user namespace: every mount made so far is copied in
        # locked (no umount of a mask, no read-write remount of a read-only mount); what
        # the container mounts later on top is its own
        stage = "mount namespace"
        sc.unshare(sc.CLONE_NEWNS)
        stage = "pivot_root"
        # the root: a bind of the working directory, attached over it. pivot_root refuses
        # a locked new root; a bind made here is this namespace's own (what it holds stays
        # locked)
        rootfd = sc.open_tree(".", sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | sc.AT_RECURSIVE)
        sc.move_mount(rootfd, ".")
        if spec.console_plan:
            stage = "console"
            execute_plan(list(spec.console_plan), rootfd)
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
