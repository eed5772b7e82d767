"""The default seccomp policy as data: one decision per system call (or argument), with its
reason and what the peers do.

A system container runs a whole distribution, so the shape is a deny list: everything not
named here is allowed. Each rule says what the filter answers (`EPERM`, `ENOSYS`, or
`ALLOW`, a decision written down so nobody adds it by reflex), when (always, or only for
some argument values), why, and what Docker's default profile (an allow list; "needs
CAP_X" means refused by default, since Docker drops CAP_X), LXC's common.seccomp (a deny
list of five calls and forced umounts) and Incus's default (LXC's list with ENOSYS) do.

ENOSYS is the answer for calls that programs probe for and replace by an older one when
the kernel lacks them (clone3 -> clone, the new mount API -> mount(2)); EPERM where a
refusal is the answer a program must already cope with (the call needs a privilege).

Arguments: `Masked(index, mask, value)` matches when (arg & mask) == value, as the kernel
reads the argument: a 32-bit parameter (ioctl's request, socket's domain) is masked to its
low 32 bits, so a value with junk in the upper half, which the kernel ignores, still
matches. `OneOf(index, values)` refuses unless the low 32 bits are one of `values`.
Arguments behind pointers (clone3's struct, i386's socketcall) cannot be read by a filter.
"""

from __future__ import annotations

EPERM = "EPERM"
ENOSYS = "ENOSYS"
ALLOW = "ALLOW"


class _Record:
    """A small immutable record, its fields in `_fields` order (no dataclasses or typing:
    this module is imported at every start)."""

    __slots__: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()

    def _set(self, *values: object) -> None:
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _key(self) -> tuple:
        return tuple(getattr(self, n) for n in self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Record) and (type(other), other._key()) == (
            type(self),
            self._key(),
        )

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}{self._key()!r}"


class Masked(_Record):
    """Matches when (argument `index` & `mask`) == `value`."""

    __slots__ = ("index", "mask", "value")
    _fields = ("index", "mask", "value")
    index: int
    mask: int
    value: int

    def __init__(self, index: int, mask: int, value: int) -> None:
        self._set(index, mask, value)


class OneOf(_Record):
    """Matches (refuses) unless argument `index`'s low 32 bits are one of `values`."""

    __slots__ = ("index", "values")
    _fields = ("index", "values")
    index: int
    values: tuple[int, ...]

    def __init__(self, index: int, values: tuple[int, ...]) -> None:
        self._set(index, values)


class Rule(_Record):
    __slots__ = ("action", "peers", "syscall", "when", "why")
    _fields = ("syscall", "action", "why", "peers", "when")
    syscall: str
    action: str  # EPERM, ENOSYS or ALLOW
    why: str
    peers: str
    when: Masked | OneOf | None

    def __init__(
        self, syscall: str, action: str, why: str, peers: str, when: Masked | OneOf | None = None
    ) -> None:
        self._set(syscall, action, why, peers, when)


# <linux/sched.h>, <linux/socket.h>, <asm-generic/ioctls.h>, <linux/personality.h>,
# <linux/fs.h>
CLONE_NEWUSER = 0x10000000
AF_VSOCK = 40
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
PER_LINUX = 0x0
PER_LINUX32 = 0x8
UNAME26 = 0x0020000
PERSONALITY_QUERY = 0xFFFFFFFF
MNT_FORCE = 0x1
LOW32 = 0xFFFFFFFF

_KERNEL = "replaces the host kernel"
_MODULE = "loads code into the host kernel"
_CLOCK = "sets the host clock (CAP_SYS_TIME is dropped too)"
_KEYS = (
    "keys and their quota belong to uids the host shares (a privileged container's root "
    "is the host's); systemd copes with the refusal"
)
_NEWMOUNT = (
    "the new mount API builds a superblock from strings parsed by each file system: "
    "CVE-2022-0185 overflowed the heap through fsconfig from a user namespace; mount(2) "
    "does what a system container needs, and ENOSYS makes util-linux and systemd use it"
)
_NEWMOUNT_PEERS = (
    "Docker: needs CAP_SYS_ADMIN; LXC: allowed; Incus: ENOSYS when it intercepts mounts"
)
_TREE = (
    "detached mount trees held by fds are a younger kernel path than mount(2), whose bind, "
    "move and remount give a system container the same; ENOSYS makes callers (systemd, "
    "util-linux) fall back as on a kernel before 5.2; hutch's own uses come before the "
    "filter or from outside (the console)"
)
_URING = (
    "a large kernel attack surface (60% of the exploits Google's kCTF was sent in 2022) "
    "that seccomp cannot see into: its operations bypass this filter; the kernel's own switch "
    "(kernel.io_uring_disabled) answers EPERM, which programs fall back on"
)
_URING_PEERS = "Docker: refused since 2023 (moby 25); LXC, Incus: allowed"
_NUMA = (
    "NUMA placement, confined by the kernel to the cgroup's cpuset.mems; moving another "
    "process's pages needs ptrace rights over it; numactl and databases use them"
)
_ADMIN_PEERS = "Docker: needs CAP_SYS_ADMIN; LXC, Incus: allowed"
_PTRACE_PEERS = "Docker: allowed (kernel >= 4.8); LXC, Incus: allowed"
_OBSOLETE = "Docker: refused (not in its list); LXC, Incus: allowed"

# fmt: off
POLICY: tuple[Rule, ...] = (
    # -- the host kernel itself -----------------------------------------------------------
    Rule("kexec_load", EPERM, _KERNEL, "Docker: refused; LXC: EPERM; Incus: ENOSYS"),
    Rule("kexec_file_load", EPERM, _KERNEL, "Docker: refused; LXC, Incus: allowed"),
    Rule("init_module", EPERM, _MODULE, "Docker: needs CAP_SYS_MODULE; LXC: EPERM; Incus: ENOSYS"),
    Rule("finit_module", EPERM, _MODULE, "Docker: needs CAP_SYS_MODULE; LXC: EPERM; Incus: ENOSYS"),
    Rule("delete_module", EPERM, "unloads host kernel modules",
         "Docker: needs CAP_SYS_MODULE; LXC: EPERM; Incus: ENOSYS"),
    Rule("bpf", EPERM, "loads programs into the host kernel (CAP_SYS_ADMIN would allow it)",
         "Docker: needs CAP_SYS_ADMIN or CAP_BPF; LXC, Incus: allowed (Incus can intercept)"),
    Rule("perf_event_open", EPERM, "observes the host's processes and kernel",
         "Docker: needs CAP_SYS_ADMIN or CAP_PERFMON; LXC, Incus: allowed"),
    Rule("lookup_dcookie", EPERM, "profiling interface of the host kernel (gone in 6.8)",
         "Docker: needs CAP_SYS_ADMIN; LXC, Incus: allowed"),
    Rule("userfaultfd", EPERM,
         "stalls kernel page faults at will, widening host kernel races (CRIU's lazy "
         "restore calls it from criu and the restorer, before the filter is back)",
         "Docker: refused; LXC, Incus: allowed"),
    Rule("io_uring_setup", EPERM, _URING, _URING_PEERS),
    Rule("io_uring_enter", EPERM, _URING, _URING_PEERS),
    Rule("io_uring_register", EPERM, _URING, _URING_PEERS),
    # -- host state no namespace covers ---------------------------------------------------
    Rule("add_key", EPERM, _KEYS, "Docker: refused; LXC, Incus: allowed"),
    Rule("request_key", EPERM, _KEYS, "Docker: refused; LXC, Incus: allowed"),
    Rule("keyctl", EPERM, _KEYS, "Docker: refused; LXC, Incus: allowed"),
    Rule("swapon", EPERM, "changes the host's swap", "Docker: refused; LXC, Incus: allowed"),
    Rule("swapoff", EPERM, "changes the host's swap", "Docker: refused; LXC, Incus: allowed"),
    Rule("acct", EPERM, "process accounting the host configures",
         "Docker: needs CAP_SYS_PACCT; LXC, Incus: allowed"),
    Rule("settimeofday", EPERM, _CLOCK, "Docker: needs CAP_SYS_TIME; LXC, Incus: allowed"),
    Rule("clock_settime", EPERM, _CLOCK, "Docker: needs CAP_SYS_TIME; LXC, Incus: allowed"),
    Rule("clock_settime64", EPERM, _CLOCK + " (i386)", "Docker: needs CAP_SYS_TIME"),
    Rule("stime", EPERM, _CLOCK + " (i386)", "Docker: needs CAP_SYS_TIME"),
    Rule("adjtimex", ALLOW,
         "read-only use is common (chrony, ntpd's status) and the `modes` field is behind a "
         "pointer; setting the clock needs CAP_SYS_TIME, which is dropped",
         "Docker, LXC, Incus: allowed"),
    Rule("clock_adjtime", ALLOW, "as adjtimex", "Docker, LXC, Incus: allowed"),
    Rule("iopl", EPERM, "raw access to the host's I/O ports",
         "Docker: needs CAP_SYS_RAWIO; LXC, Incus: allowed"),
    Rule("ioperm", EPERM, "raw access to the host's I/O ports",
         "Docker: needs CAP_SYS_RAWIO; LXC, Incus: allowed"),
    Rule("socket", EPERM,
         "AF_VSOCK is not namespaced: it reaches the hypervisor (CID 2) and every vsock "
         "service of the host and its VMs; on i386 socketcall(SYS_SOCKET) hides the "
         "domain behind a pointer, so 32-bit programs using it get no sockets at all",
         "Docker: refused; LXC, Incus: allowed", Masked(0, LOW32, AF_VSOCK)),
    Rule("ustat", EPERM,
         "reports the free space of any host file system by device number, mounted here "
         "or not; obsolete (glibc dropped its wrapper in 2.28)", _OBSOLETE),
    Rule("sysfs", ALLOW, "names the file system types, as /proc/filesystems does", _OBSOLETE),
    Rule("quotactl", ALLOW,
         "setting a quota needs CAP_SYS_ADMIN of the host's user namespace, which no "
         "container has; `quota` reads one's own", _ADMIN_PEERS),
    Rule("quotactl_fd", ALLOW, "as quotactl", _ADMIN_PEERS),
    # -- legacy calls with a history of kernel bugs --------------------------------------
    Rule("vm86", EPERM, "legacy mode with a history of host kernel bugs (i386)", _OBSOLETE),
    Rule("vm86old", EPERM, "legacy mode with a history of host kernel bugs (i386)", _OBSOLETE),
    Rule("nfsservctl", EPERM, "the host's kernel NFS server (removed since Linux 3.1)", _OBSOLETE),
    Rule("uselib", EPERM, "obsolete loader call with a history of kernel bugs", _OBSOLETE),
    Rule("_sysctl", EPERM, "obsolete sysctl interface (removed since Linux 5.5)", _OBSOLETE),
    Rule("personality", EPERM,
         "only Linux, 32-bit and uname-2.6 personas: the other flags weaken the caller's own "
         "protections (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC) or mapped page zero for null "
         "pointer exploits (MMAP_PAGE_ZERO, CVE-2009-1895); the query stays",
         "Docker: the same values; LXC, Incus: allowed",
         OneOf(0, (PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, PERSONALITY_QUERY))),
    # -- files, handles, mounts -----------------------------------------------------------
    Rule("open_by_handle_at", EPERM,
         "opens any file of a file system by handle, escaping the root (CVE-2014-3519)",
         "Docker: needs CAP_DAC_READ_SEARCH; LXC: EPERM; Incus: ENOSYS"),
    Rule("name_to_handle_at", ALLOW,
         "only makes a handle (systemd uses it); open_by_handle_at is the dangerous half",
         "Docker, LXC, Incus: allowed"),
    Rule("fsopen", ENOSYS, _NEWMOUNT, _NEWMOUNT_PEERS),
    Rule("fsconfig", ENOSYS, _NEWMOUNT, _NEWMOUNT_PEERS),
    Rule("fsmount", ENOSYS, _NEWMOUNT, _NEWMOUNT_PEERS),
    Rule("fspick", ENOSYS, _NEWMOUNT, _NEWMOUNT_PEERS),
    Rule("open_tree", ENOSYS, _TREE, _NEWMOUNT_PEERS),
    Rule("move_mount", ENOSYS, _TREE, _NEWMOUNT_PEERS),
    Rule("mount_setattr", ENOSYS,
         _TREE + "; also idmapped mounts, whose owner checks are young code",
         "Docker: needs CAP_SYS_ADMIN; LXC, Incus: allowed"),
    Rule("mount", ALLOW,
         "a system container mounts (tmpfs, its own binds); the masks are locked and "
         "CAP_SYS_ADMIN of a privileged container is dropped", _ADMIN_PEERS),
    Rule("umount2", EPERM,
         "MNT_FORCE acts on the superblock, which a bind shares with the host: a forced "
         "umount of an NFS bind would abort the host's requests on it",
         "Docker: needs CAP_SYS_ADMIN; LXC, Incus: EACCES", Masked(1, MNT_FORCE, MNT_FORCE)),
    # -- processes and namespaces ---------------------------------------------------------
    Rule("clone3", ENOSYS,
         "its flags sit in a struct in memory, which a filter cannot read: ENOSYS makes "
         "glibc (2.34+) fall back to clone, whose flags it can",
         "Docker: ENOSYS without CAP_SYS_ADMIN; LXC, Incus: allowed"),
    Rule("clone", EPERM,
         "nested user namespaces are not supported: one gives every uid of the container "
         "all capabilities over new namespaces, and with them the kernel code reachable "
         "from there (CVE-2022-0185, CVE-2023-32233)",
         "Docker: no namespace flags without CAP_SYS_ADMIN; LXC, Incus: allowed (nesting)",
         Masked(0, CLONE_NEWUSER, CLONE_NEWUSER)),
    Rule("unshare", EPERM, "as clone with CLONE_NEWUSER",
         _ADMIN_PEERS, Masked(0, CLONE_NEWUSER, CLONE_NEWUSER)),
    Rule("setns", ALLOW,
         "joins only namespaces the container holds; the host's need CAP_SYS_ADMIN over them",
         "Docker: needs CAP_SYS_ADMIN; LXC, Incus: allowed"),
    Rule("ptrace", ALLOW,
         "strace and gdb work inside; the pid namespace hides every other process",
         _PTRACE_PEERS),
    Rule("process_vm_readv", ALLOW, "as ptrace", _PTRACE_PEERS),
    Rule("process_vm_writev", ALLOW, "as ptrace", _PTRACE_PEERS),
    Rule("kcmp", ALLOW,
         "compares kernel objects of processes the caller may ptrace (CRIU, systemd)",
         "Docker: needs CAP_SYS_PTRACE; LXC, Incus: allowed"),
    Rule("mbind", ALLOW, _NUMA, "Docker: needs CAP_SYS_NICE; LXC, Incus: allowed"),
    Rule("set_mempolicy", ALLOW, _NUMA, "Docker: needs CAP_SYS_NICE; LXC, Incus: allowed"),
    Rule("migrate_pages", ALLOW, _NUMA, "Docker: refused; LXC, Incus: allowed"),
    Rule("move_pages", ALLOW, _NUMA, "Docker: refused; LXC, Incus: allowed"),
    Rule("reboot", ALLOW,
         "in a pid namespace it only ends the container, which hutch restarts",
         "Docker: needs CAP_SYS_BOOT; LXC, Incus: allowed"),
    Rule("seccomp", ALLOW,
         "a filter added on top can only refuse more (systemd's SystemCallFilter=)",
         "Docker, LXC: allowed; Incus: allowed (no user notification when it intercepts)"),
    # -- terminals ------------------------------------------------------------------------
    Rule("ioctl", EPERM,
         "TIOCSTI types into a terminal's input: a process holding a terminal it shares "
         "with someone else (an operator's) makes them run commands",
         "Docker, LXC, Incus: allowed", Masked(1, LOW32, TIOCSTI)),
    Rule("ioctl", EPERM,
         "TIOCLINUX pastes a virtual console's selection into its input (as TIOCSTI "
         "types) and sets selection and blanking; a container owns no virtual console. "
         "Every other ioctl stays allowed",
         "Docker, LXC, Incus: allowed", Masked(1, LOW32, TIOCLINUX)),
)
# fmt: on


def refused() -> tuple[Rule, ...]:
    """The rules the filter carries (every decision but ALLOW)."""
    return tuple(r for r in POLICY if r.action != ALLOW)


def unconditional() -> dict[str, str]:
    """Calls refused whatever their arguments -> the answer (EPERM or ENOSYS)."""
    return {r.syscall: r.action for r in POLICY if r.action != ALLOW and r.when is None}
