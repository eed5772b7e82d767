"""ctypes wrappers for the system calls Python's `os` module lacks (3.11)."""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# <linux/sched.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# The /proc/PID/ns entry of each namespace, in the order setns() must join them: the user
# namespace first (it grants the rights for the rest), the mount namespace last but one so
# paths of the others still resolve, pid last (it only affects children).
NAMESPACES: tuple[tuple[str, int], ...] = (
    ("user", CLONE_NEWUSER),
    ("cgroup", CLONE_NEWCGROUP),
    ("ipc", CLONE_NEWIPC),
    ("uts", CLONE_NEWUTS),
    ("net", CLONE_NEWNET),
    ("pid", CLONE_NEWPID),
    ("mnt", CLONE_NEWNS),
)

# <linux/mount.h>
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_RELATIME = 1 << 21
MNT_DETACH = 2

# <linux/prctl.h>
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_SECCOMP = 22
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# <linux/seccomp.h>
SECCOMP_MODE_FILTER = 2

# <linux/capability.h>
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_SYSCALLS = {
    # name: (x86_64, aarch64); both architectures share the numbers from 424 on
    "pivot_root": (155, 41),
    "pidfd_send_signal": (424, 424),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "mount_setattr": (442, 442),
}
_ARCH = 0 if os.uname().machine == "x86_64" else 1


def _nr(name: str) -> int:
    return _SYSCALLS[name][_ARCH]


def _check(ret: int, syscall: str, obj: str = "") -> int:
    if ret < 0:
        err = ctypes.get_errno()
        what = f"{syscall} {obj}".rstrip()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _b(path: str | os.PathLike[str] | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def mount(
    source: str | None,
    target: str | os.PathLike[str],
    fstype: str | None = None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    ret = _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data))
    _check(ret, "mount", str(target))


def umount2(target: str | os.PathLike[str], flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), "umount2", str(target))


def pivot_root(new_root: str, put_old: str) -> None:
    ret = _libc.syscall(_nr("pivot_root"), _b(new_root), _b(put_old))
    _check(ret, "pivot_root", new_root)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare", hex(flags))


def setns(fd: int, nstype: int = 0, what: str = "") -> None:
    _check(_libc.setns(fd, nstype), "setns", what)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname", name)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    args = (ctypes.c_ulong(a) for a in (arg2, arg3, arg4, arg5))
    return _check(_libc.prctl(option, *args), "prctl", str(option))


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_pdeathsig(sig: int) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_process_name(name: str) -> None:
    prctl(PR_SET_NAME, ctypes.cast(ctypes.c_char_p(name.encode()[:15]), ctypes.c_void_p).value or 0)


def capbset_drop(cap: int) -> None:
    """Remove a capability from the bounding set (needs CAP_SETPCAP): no execve gives it back."""
    _check(
        _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0),
        "prctl PR_CAPBSET_DROP",
        str(cap),
    )


def capbset_read(cap: int) -> bool:
    return bool(
        _check(_libc.prctl(PR_CAPBSET_READ, ctypes.c_ulong(cap), 0, 0, 0), "prctl", str(cap))
    )


def cap_ambient_clear_all() -> None:
    ret = _libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
    _check(ret, "prctl PR_CAP_AMBIENT_CLEAR_ALL")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def capget() -> tuple[int, int, int]:
    """This thread's (effective, permitted, inheritable) capability sets as 64-bit masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capget(ctypes.byref(header), data), "capget")
    return tuple(  # type: ignore[return-value]
        getattr(data[0], f) | getattr(data[1], f) << 32
        for f in ("effective", "permitted", "inheritable")
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.capset(ctypes.byref(header), data), "capset")


# <asm-generic/resource.h>
RLIMIT_RTPRIO = 14


class _Rlimit(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_uint64), ("max", ctypes.c_uint64)]


def setrlimit(resource: int, soft: int, hard: int) -> None:
    """setrlimit(2) (the `resource` module costs the CLI an import)."""
    lim = _Rlimit(soft, hard)
    _check(_libc.setrlimit(ctypes.c_int(resource), ctypes.byref(lim)), "setrlimit", str(resource))


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_set_mode_filter(program: bytes) -> None:
    """Install a classic BPF seccomp filter (`struct sock_filter` array, 8 bytes an entry).

    Without no_new_privs this needs CAP_SYS_ADMIN, which a container's root has."""
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.addressof(buf))
    ret = _libc.prctl(
        PR_SET_SECCOMP,
        ctypes.c_ulong(SECCOMP_MODE_FILTER),
        ctypes.c_void_p(ctypes.addressof(prog)),
        0,
        0,
    )
    _check(ret, "prctl PR_SET_SECCOMP")


def pidfd_open(pid: int) -> int:
    return os.pidfd_open(pid)


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    ret = _libc.syscall(_nr("pidfd_send_signal"), pidfd, sig, None, 0)
    _check(ret, "pidfd_send_signal", f"signal {sig}")


# open_tree(2) / move_mount(2): attach a mount from one mount namespace into another.
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_EMPTY_PATH = 0x1000
AT_FDCWD = -100
MOVE_MOUNT_F_EMPTY_PATH = 0x00000004


def open_tree(path: str, flags: int = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC) -> int:
    ret = _libc.syscall(_nr("open_tree"), AT_FDCWD, _b(path), flags)
    return _check(ret, "open_tree", path)


def move_mount(tree_fd: int, target: str) -> None:
    ret = _libc.syscall(
        _nr("move_mount"), tree_fd, b"", AT_FDCWD, _b(target), MOVE_MOUNT_F_EMPTY_PATH
    )
    _check(ret, "move_mount", target)


# mount_setattr(2): an idmapped mount shows a tree's owners through a user namespace's map
# (a shared template's root-owned files as the container's root, without copying them).
MOUNT_ATTR_RDONLY = 0x00000001
MOUNT_ATTR_IDMAP = 0x00100000
AT_RECURSIVE = 0x8000


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def mount_setattr(tree_fd: int, attr_set: int, userns_fd: int = 0, what: str = "") -> None:
    attr = _MountAttr(attr_set, 0, 0, userns_fd)
    ret = _libc.syscall(
        _nr("mount_setattr"),
        tree_fd,
        b"",
        AT_EMPTY_PATH | AT_RECURSIVE,
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    _check(ret, "mount_setattr", what)


# openat2(2): resolve a path as if the directory fd were the root, so a symlink planted in a
# container's rootfs can never lead a mount or a write out of it.
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
O_PATH = 0o10000000


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    ret = _libc.syscall(437, dirfd, _b(path), ctypes.byref(how), ctypes.sizeof(how))
    return _check(ret, "openat2", path)
