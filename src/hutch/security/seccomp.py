"""The default seccomp filter, compiled by libseccomp (Debian's python3-seccomp).

The filter refuses with EPERM the system calls whose effect is not confined by a namespace
(modules, kexec, the host clock, swap, the kernel keyring, BPF and perf, raw I/O ports) and
allows everything else: a system container runs a whole distribution, so a deny list is the
right shape. On x86_64 the i386 compat ABI gets the same refusals (libseccomp knows its
numbers); x32 calls, and any architecture not in the filter (aarch64's 32-bit ARM compat, for
one), kill the process: their numbers are not checked, and a process whose every call failed
could only spin.

libseccomp only compiles here. `build` returns the program it exports (`struct sock_filter`
entries in host byte order), and hutch loads those bytes itself with prctl in the container's
child (`hutch.security.confine.apply`) rather than calling libseccomp's load() there:
- load() compiles again, allocating in a forked child that runs after pivot_root or chroot
  into the container; the child is kept to bare system calls, which cannot fail that way.
- load() sets no_new_privs unless told otherwise, and that breaks setuid binaries in the
  container; without it loading needs CAP_SYS_ADMIN, which the container's root has.
- compiled once at start, the program is kept in the run state (`confine.record`), so
  `hutch exec` applies the same bytes as the init without importing libseccomp.
"""

from __future__ import annotations

import errno
import os

from hutch.errors import OperationFailed

# Refused by default, each for a reason. Names an architecture lacks (iopl on aarch64, stime
# outside i386) are skipped there by libseccomp. Deliberately ALLOWED: reboot (in a pid
# namespace it only ends the container: hutch restarts it), name_to_handle_at (only makes a
# handle; systemd uses it; open_by_handle_at is the dangerous half), quotactl (quotas of the
# container's image), mount and the new mount API (a system container mounts), adjtimex and
# clock_adjtime (read-only use is common and the filter cannot see the `modes` field behind
# the pointer: setting the clock through them needs CAP_SYS_TIME, which is dropped).
DEFAULT_DENY: dict[str, str] = {
    "kexec_load": "replaces the host kernel",
    "kexec_file_load": "replaces the host kernel",
    "init_module": "loads code into the host kernel",
    "finit_module": "loads code into the host kernel",
    "delete_module": "unloads host kernel modules",
    "open_by_handle_at": "opens any host file by handle, escaping the root (CVE-2014-3519)",
    "add_key": "the kernel keyring is not namespaced",
    "request_key": "the kernel keyring is not namespaced",
    "keyctl": "the kernel keyring is not namespaced",
    "bpf": "loads programs into the host kernel (CAP_SYS_ADMIN would allow it)",
    "perf_event_open": "observes the host's processes and kernel",
    "userfaultfd": "stalls kernel page faults at will, widening host kernel races",
    "swapon": "changes the host's swap",
    "swapoff": "changes the host's swap",
    "acct": "process accounting the host configures",
    "settimeofday": "sets the host clock",
    "clock_settime": "sets the host clock",
    "clock_settime64": "sets the host clock (i386)",
    "stime": "sets the host clock (i386)",
    "iopl": "raw access to the host's I/O ports",
    "ioperm": "raw access to the host's I/O ports",
    "vm86": "legacy mode with a history of host kernel bugs (i386)",
    "vm86old": "legacy mode with a history of host kernel bugs (i386)",
    "lookup_dcookie": "profiling interface of the host kernel",
    "nfsservctl": "the host's kernel NFS server (removed since Linux 3.1)",
    "uselib": "obsolete loader call with a history of kernel bugs",
    "_sysctl": "obsolete sysctl interface (removed since Linux 5.5)",
}

# host architecture -> the libseccomp architectures its filter checks (native first)
ARCHES: dict[str, tuple[str, ...]] = {
    "x86_64": ("X86_64", "X86"),
    "aarch64": ("AARCH64",),
}
# Bounds the configured list, so a filter stays a short scan that every call pays for.
MAX_DENY = 250


def _libseccomp():  # type: ignore[no-untyped-def]
    try:
        import seccomp
    except ImportError:
        raise OperationFailed(
            "libseccomp's Python binding is not installed",
            hint="apt-get install python3-seccomp, then run setup.sh again",
        ) from None
    return seccomp


def parse_syscall_name(text: str) -> str:
    """`text` as a system call name libseccomp knows on some architecture."""
    name = text.strip()
    lib = _libseccomp()
    # -1 is an unknown name; a name missing from this architecture resolves to a pseudo
    # number (below -1) and is still a system call, e.g. stime for i386
    if not name or lib.resolve_syscall(lib.Arch.X86_64, name) == -1:
        raise ValueError(f"{text!r} is not a system call name (such as ptrace)")
    return name


def host_arch() -> str:
    return os.uname().machine


def build(extra_deny: tuple[str, ...] = (), arch: str | None = None) -> bytes:
    """The filter program for `arch` (default: this host's), as loaded by prctl."""
    arch = arch or host_arch()
    if arch not in ARCHES:
        raise ValueError(f"no seccomp filter for the {arch} architecture")
    names = sorted(set(DEFAULT_DENY) | {parse_syscall_name(n) for n in extra_deny})
    if len(names) > MAX_DENY:
        raise ValueError(f"a seccomp filter refuses at most {MAX_DENY} system calls")
    lib = _libseccomp()
    filt = lib.SyscallFilter(lib.ALLOW)
    filt.set_attr(lib.Attr.ACT_BADARCH, lib.KILL_PROCESS)
    # the filter starts with the native architecture: swap in `arch`'s (also when building
    # for another host, as the tests do), before any rule so each rule covers all of them
    wanted = [getattr(lib.Arch, name) for name in ARCHES[arch]]
    for a in wanted:
        if not filt.exist_arch(a):
            filt.add_arch(a)
    if lib.system_arch() not in {int(a) & 0xFFFFFFFF for a in wanted}:
        filt.remove_arch(lib.Arch.NATIVE)
    for name in names:
        filt.add_rule(lib.ERRNO(errno.EPERM), name)
    fd = os.memfd_create("hutch-seccomp", os.MFD_CLOEXEC)
    with open(fd, "w+b") as f:
        filt.export_bpf(f)
        f.seek(0)
        return f.read()


def library_version() -> str | None:
    """libseccomp's version, as `hutch checkconfig` reports it (None: not installed)."""
    try:
        _libseccomp()
    except OperationFailed:
        return None
    import ctypes

    # the binding does not expose it; the library it loaded does
    class Version(ctypes.Structure):
        _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]

    func = ctypes.CDLL("libseccomp.so.2").seccomp_version
    func.restype = ctypes.POINTER(Version)
    v = func().contents
    return f"{v.major}.{v.minor}.{v.micro}"
