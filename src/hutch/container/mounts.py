"""The mounts that turn a rootfs into a running system container, as a plan of small operations.

The plan is data (`describe()` reads without root, so unit tests check it); `execute()` runs
in the container's new mount namespace before pivot_root, always as the host's root (see
hutch.container.spawn for who runs which part). Every target is resolved inside the rootfs by
the kernel (see hutch.linux.rootpath): a planted symlink cannot redirect a mount.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hutch.linux import syscalls as sc
from hutch.linux.rootpath import (
    create_file_in_root,
    fd_path,
    mkdirs_in_root,
    open_in_root,
    symlink_in_root,
)

NOSUID_NODEV_NOEXEC = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC

TTY_GID = 5  # the tty group of Debian and most distributions (devpts's gid=)

# Device nodes a container gets: made in its /dev with the host's numbers (see Node).
DEFAULT_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

# /proc entries that reach the host kernel: masked (bound over with /dev/null or an empty dir).
MASKED_PROC_FILES = (
    "sysrq-trigger",
    "kcore",
    "kmsg",
    "keys",
    "timer_list",
    "sched_debug",
    "latency_stats",
)
MASKED_DIRS = (
    "proc/acpi",
    "proc/scsi",
    "proc/asound",  # the host's sound cards and their state
    "sys/firmware",
    # RAPL energy counters: a side channel on what the host's CPUs compute (CVE-2020-8694,
    # Platypus); root-only on fixed kernels, and a privileged container's root is uid 0
    "sys/class/powercap",
    "sys/devices/virtual/powercap",
)
READONLY_PATHS = ("proc/sys", "proc/bus", "proc/fs", "proc/irq")
# ... but the container's own network namespace is its to tune: bound back read-write on top
WRITABLE_PATHS = ("proc/sys/net",)

# lxcfs (optional, a host daemon hutch does not start): its /proc files show the container's
# own limits (memory, CPUs, uptime of its init, ...); lxcfs finds the reader's cgroup itself.
LXCFS_PROC = Path("/var/lib/lxcfs/proc")
LXCFS_FILES = ("meminfo", "cpuinfo", "uptime", "stat", "loadavg", "diskstats", "swaps")


def lxcfs_proc_files(base: Path = LXCFS_PROC) -> tuple[str, ...]:
    """The lxcfs /proc files there are: none when lxcfs is not mounted (probed lazily)."""
    if not (base / "meminfo").is_file():
        return ()
    return tuple(name for name in LXCFS_FILES if (base / name).is_file())


@contextmanager
def _existing(rootfd: int, target: str) -> Iterator[int | None]:
    """An O_PATH fd of a path inside the root, or None where it does not exist (masks and
    read-only binds of paths a kernel may not have, such as /proc/kcore)."""
    try:
        fd = open_in_root(rootfd, target)
    except FileNotFoundError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _remount_bind(rootfd: int, target: str, flags: int) -> None:
    """Bind mounts take ro/nosuid/... only on a remount; the path is resolved again so it
    names the new mount on top, not the one beneath."""
    fd = open_in_root(rootfd, target)
    try:
        sc.mount(None, fd_path(fd), None, sc.MS_REMOUNT | sc.MS_BIND | flags)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Mount:
    """mount(2) of a filesystem (`fstype`) or a bind (`source` on the host, fstype None)."""

    target: str
    fstype: str | None
    source: str | None = None
    flags: int = 0
    data: str | None = None
    file: bool = False  # the target is a file (bind of a device or file), not a directory

    def describe(self) -> str:
        what = self.source if self.fstype is None else self.fstype
        opts = f" ({self.data})" if self.data else ""
        ro = " ro" if self.flags & sc.MS_RDONLY else ""
        return f"mount {what} on /{self.target}{ro}{opts}"

    def execute(self, rootfd: int) -> None:
        make = create_file_in_root if self.file else mkdirs_in_root
        tfd = make(rootfd, self.target)
        try:
            target = fd_path(tfd)
            if self.fstype is None:
                sc.mount(self.source, target, None, sc.MS_BIND | (self.flags & sc.MS_REC))
                if self.flags & ~sc.MS_REC:
                    _remount_bind(rootfd, self.target, self.flags & ~sc.MS_REC)
            else:
                sc.mount(self.source or self.fstype, target, self.fstype, self.flags, self.data)
        finally:
            os.close(tfd)


@dataclass(frozen=True)
class ReadOnly:
    """Make an existing path read-only by binding it over itself."""

    target: str

    def describe(self) -> str:
        return f"read-only /{self.target}"

    def execute(self, rootfd: int) -> None:
        with _existing(rootfd, self.target) as fd:
            if fd is None:
                return
            sc.mount(fd_path(fd), fd_path(fd), None, sc.MS_BIND | sc.MS_REC)
        _remount_bind(rootfd, self.target, sc.MS_RDONLY | NOSUID_NODEV_NOEXEC)


@dataclass(frozen=True)
class RemountReadOnly:
    """Make a filesystem hutch mounted (and filled) read-only, without a bind on top."""

    target: str
    data: str | None = None

    def describe(self) -> str:
        return f"remount /{self.target} ro"

    def execute(self, rootfd: int) -> None:
        fd = open_in_root(rootfd, self.target)
        try:
            sc.mount(
                None,
                fd_path(fd),
                None,
                sc.MS_REMOUNT | sc.MS_RDONLY | NOSUID_NODEV_NOEXEC,
                self.data,
            )
        finally:
            os.close(fd)


@dataclass(frozen=True)
class Writable:
    """Bind an existing path over itself read-write (a hole in a read-only bind above it)."""

    target: str

    def describe(self) -> str:
        return f"read-write /{self.target}"

    def execute(self, rootfd: int) -> None:
        with _existing(rootfd, self.target) as fd:
            if fd is None:
                return
            sc.mount(fd_path(fd), fd_path(fd), None, sc.MS_BIND)
        _remount_bind(rootfd, self.target, NOSUID_NODEV_NOEXEC)


@dataclass(frozen=True)
class Mask:
    """Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory."""

    target: str

    def describe(self) -> str:
        return f"mask /{self.target}"

    def execute(self, rootfd: int) -> None:
        with _existing(rootfd, self.target) as fd:
            if fd is None:
                return
            if os.path.isdir(fd_path(fd)):
                sc.mount(
                    "tmpfs", fd_path(fd), "tmpfs", sc.MS_RDONLY | NOSUID_NODEV_NOEXEC, "mode=555"
                )
            else:
                sc.mount("/dev/null", fd_path(fd), None, sc.MS_BIND)


@dataclass(frozen=True)
class Node:
    """A character device node, made by hutch (the host's root) for the container's root:
    a user namespace may not make device nodes, and a bind of the host's node would keep
    the host's owner and mode (0600 root for fuse and tun on some hosts)."""

    target: str
    rdev: int
    uid: int = 0
    gid: int = 0
    mode: int = 0o666

    def describe(self) -> str:
        return f"device {os.major(self.rdev)}:{os.minor(self.rdev)} at /{self.target}"

    def execute(self, rootfd: int) -> None:
        parent, _, name = self.target.rpartition("/")
        pfd = mkdirs_in_root(rootfd, parent) if parent else os.dup(rootfd)
        try:
            os.mknod(name, stat.S_IFCHR | self.mode, self.rdev, dir_fd=pfd)
            os.chown(name, self.uid, self.gid, dir_fd=pfd, follow_symlinks=False)
            os.chmod(name, self.mode, dir_fd=pfd)  # past the umask; a node just made here
        finally:
            os.close(pfd)


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str

    def describe(self) -> str:
        return f"symlink /{self.path} -> {self.target}"

    def execute(self, rootfd: int) -> None:
        symlink_in_root(rootfd, self.target, self.path)


Op = Mount | ReadOnly | Writable | RemountReadOnly | Mask | Node | Symlink


def outside_plan(
    devices: tuple[str, ...] = DEFAULT_DEVICES, owner: int = 0, own_net: bool = True
) -> list[Op]:
    """What hutch mounts and makes in the rootfs as the host's root, before the container's
    namespaces exist (run by the intermediate process of hutch.container.spawn): /dev with
    its device nodes (`devices`: paths below /dev, owned by `owner`, the host uid of the
    container's root), and /sys when the container shares the host's network namespace
    (a sysfs shows the network namespace of whoever mounts it; a user namespace may mount
    one only for a network namespace it owns)."""
    dev = f"mode=755,size=512k,uid={owner},gid={owner}"
    plan: list[Op] = [Mount("dev", "tmpfs", flags=sc.MS_NOSUID | sc.MS_NOEXEC, data=dev)]
    plan += [Node(f"dev/{d}", _rdev(d), owner, owner) for d in devices]
    if not own_net:
        plan.append(Mount("sys", "sysfs", flags=sc.MS_RDONLY | NOSUID_NODEV_NOEXEC))
    return plan


def _rdev(name: str) -> int:
    try:
        st = os.stat(f"/dev/{name}")
    except FileNotFoundError:
        raise FileNotFoundError(f"the host has no /dev/{name}") from None
    if not stat.S_ISCHR(st.st_mode):
        raise ValueError(f"/dev/{name} on the host is not a character device")
    return st.st_rdev


def console_plan(console: str | None) -> list[Op]:
    """/dev/console: a bind of `console`, the host path of the pty slave whose master hutchd
    holds (None: no console). Made by the init itself, after any other mount, so that it is
    not locked: a new hutchd replaces it with a fresh pty (hutch.container.console)."""
    return [Mount("dev/console", None, source=console, file=True)] if console else []


# /dev/shm of a container without a memory limit. A tmpfs without size= may take half the
# host's RAM, and its pages are not freed when their writer dies nor by the OOM killer: a
# container could pin that much of the host for as long as it runs. 64 MiB is Docker's
# default, plenty for POSIX shm and semaphores (PostgreSQL keeps its shared buffers in
# anonymous memory, not here).
SHM_DEFAULT_SIZE = 64 << 20


def shm_size_for(memory_max: int | None) -> int:
    """The size of a container's /dev/shm: half its memory limit when it has one (the
    kernel's own default is half the RAM: here the container's RAM), else SHM_DEFAULT_SIZE.
    What it writes there is charged to its memory cgroup anyway; the bound makes a full
    /dev/shm an ENOSPC for the writer rather than an OOM kill of whatever the container runs
    (tmpfs pages belong to no process the OOM killer could pick to free them)."""
    return memory_max // 2 if memory_max else SHM_DEFAULT_SIZE


def container_plan(
    lxcfs: tuple[str, ...] = (),
    own_net: bool = True,
    owner: int = 0,
    shm_size: int = SHM_DEFAULT_SIZE,
) -> list[Op]:
    """The mounts of a system container's root, in order, made by its init inside its
    namespaces (after `outside_plan`). `shm_size`: the bound of /dev/shm, in bytes (see
    shm_size_for).

    `lxcfs` names the files of `LXCFS_PROC` to
    bind over /proc's (see lxcfs_proc_files). `own_net`: the container has its own network
    namespace, so it gets its own /sys and /proc/sys/net stays writable. `owner`: the host
    uid (and gid) of the container's root, the owner of what these mounts make.
    """
    plan: list[Op] = [Mount("proc", "proc", flags=NOSUID_NODEV_NOEXEC)]
    if own_net:
        plan.append(Mount("sys", "sysfs", flags=sc.MS_RDONLY | NOSUID_NODEV_NOEXEC))
    plan += [
        Mount(
            "dev/pts",
            "devpts",
            flags=sc.MS_NOSUID | sc.MS_NOEXEC,
            data=f"newinstance,ptmxmode=0666,mode=0620,gid={owner + TTY_GID}",
        ),
        Symlink("dev/ptmx", "pts/ptmx"),
        Mount(
            "dev/shm",
            "tmpfs",
            flags=sc.MS_NOSUID | sc.MS_NODEV,
            data=f"mode=1777,uid={owner},gid={owner},size={shm_size}",
        ),
        Mount("dev/mqueue", "mqueue", flags=NOSUID_NODEV_NOEXEC),
    ]
    plan += [
        Symlink("dev/fd", "/proc/self/fd"),
        Symlink("dev/stdin", "/proc/self/fd/0"),
        Symlink("dev/stdout", "/proc/self/fd/1"),
        Symlink("dev/stderr", "/proc/self/fd/2"),
    ]
    plan += [Mask(f"proc/{p}") for p in MASKED_PROC_FILES]
    plan += [Mask(p) for p in MASKED_DIRS]
    plan += [ReadOnly(p) for p in READONLY_PATHS]
    if own_net:
        plan += [Writable(p) for p in WRITABLE_PATHS]  # after proc/sys went read-only
    plan += [Mount(f"proc/{f}", None, source=str(LXCFS_PROC / f), file=True) for f in lxcfs]
    return plan


def cgroup_plan(mounts: list[tuple[str, str, str]]) -> list[Op]:
    """The container's view of its cgroups at /sys/fs/cgroup. Run after the init entered
    its cgroup namespace, so each hierarchy shows the container's own group as its root."""
    plan: list[Op] = []
    for sub, fstype, data in mounts:
        target = "sys/fs/cgroup" + (f"/{sub}" if sub else "")
        source = "cgroup" if fstype.startswith("cgroup") else fstype
        plan.append(
            Mount(target, fstype, source=source, flags=NOSUID_NODEV_NOEXEC, data=data or None)
        )
        if "," in sub:  # co-mounted controllers: cpu and cpuacct lead to cpu,cpuacct
            plan += [Symlink(f"sys/fs/cgroup/{name}", sub) for name in sub.split(",")]
    if mounts and mounts[0][1] == "tmpfs":
        plan.append(RemountReadOnly("sys/fs/cgroup", mounts[0][2]))
    return plan


def execute_plan(plan: list[Op], rootfd: int) -> None:
    for op in plan:
        try:
            op.execute(rootfd)
        except OSError as e:
            raise OSError(e.errno, f"{op.describe()}: {e.strerror}") from None
