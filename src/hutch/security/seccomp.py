"""The default seccomp filter, compiled by libseccomp (Debian's python3-seccomp).

The policy is the table in `hutch.security.seccomp_policy`: a deny list (a system container
runs a whole distribution), each entry with its answer (EPERM or ENOSYS), the argument
values it covers, its reason and what Docker, LXC and Incus do. On x86_64 the i386 compat
ABI gets the same refusals (libseccomp knows its numbers and socketcall's multiplexing);
x32 calls, and any architecture not in the filter (aarch64's 32-bit ARM compat, for one),
kill the process: their numbers are not checked, and a process whose every call failed
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

One kind of rule libseccomp cannot express under a default of "allow": "refuse unless the
argument is one of these values" (it takes one comparison per argument in a rule, and no
allow rule under an allow default). Those few (`OneOf`: personality) are a short prologue
of classic BPF written here, run before libseccomp's program: it answers the refusal or
falls through to libseccomp's program, which starts over from its own loads.
"""

from __future__ import annotations

import errno
import os
import struct

from hutch.errors import OperationFailed
from hutch.security.seccomp_policy import Masked, OneOf, Rule, refused, unconditional

# The refusals of the table, by name, as `hutch checkconfig`, the tests and the docs list
# them: name -> the answer when it does not depend on the arguments, else "EPERM for some
# arguments".
DEFAULT_DENY: dict[str, str] = {
    r.syscall: (r.action if r.when is None else f"{r.action} for some arguments") for r in refused()
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


ERRNO = {"EPERM": errno.EPERM, "ENOSYS": errno.ENOSYS}

# <linux/filter.h>, <linux/seccomp.h>: the few classic BPF instructions of the prologue
_LD_ABS, _JEQ, _RET = 0x20, 0x15, 0x06
_RET_ERRNO = 0x00050000
_ARCH_OFF, _NR_OFF, _ARGS_OFF = 4, 0, 16  # struct seccomp_data


def build(extra_deny: tuple[str, ...] = (), arch: str | None = None) -> bytes:
    """The filter program for `arch` (default: this host's), as loaded by prctl."""
    arch = arch or host_arch()
    if arch not in ARCHES:
        raise ValueError(f"no seccomp filter for the {arch} architecture")
    table = unconditional()
    # an extra name the table already refuses whatever the arguments keeps its answer
    extra = sorted({parse_syscall_name(n) for n in extra_deny} - set(table))
    if len(set(DEFAULT_DENY) | set(extra)) > MAX_DENY:
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
    prologue = []
    for rule in refused():
        action = lib.ERRNO(ERRNO[rule.action])
        if rule.when is None:
            filt.add_rule(action, rule.syscall)
        elif isinstance(rule.when, Masked):
            w = rule.when
            filt.add_rule(action, rule.syscall, lib.Arg(w.index, lib.MASKED_EQ, w.mask, w.value))
        else:
            prologue.append(rule)
    for name in extra:
        filt.add_rule(lib.ERRNO(errno.EPERM), name)
    fd = os.memfd_create("hutch-seccomp", os.MFD_CLOEXEC)
    with open(fd, "w+b") as f:
        filt.export_bpf(f)
        f.seek(0)
        program = f.read()
    head = b"".join(_one_of(lib, a, r) for r in prologue for a in wanted)
    return head + program


def _one_of(lib, arch, rule: Rule) -> bytes:  # type: ignore[no-untyped-def]
    """Classic BPF: on `arch`, refuse `rule.syscall` unless its argument's low 32 bits are
    one of the values; anything else falls through to what follows."""
    nr = lib.resolve_syscall(arch, rule.syscall)
    if nr < 0:  # not a call of this architecture
        return b""
    assert isinstance(rule.when, OneOf)
    values = rule.when.values
    # the low half of a u64 argument: first on a little-endian host (x86_64, aarch64)
    arg = _ARGS_OFF + 8 * rule.when.index
    end = len(values) + 6  # the instruction after the block
    insns = [
        (_LD_ABS, 0, 0, _ARCH_OFF),
        (_JEQ, 0, end - 2, int(arch) & 0xFFFFFFFF),
        (_LD_ABS, 0, 0, _NR_OFF),
        (_JEQ, 0, end - 4, nr),
        (_LD_ABS, 0, 0, arg),
    ]
    for i, v in enumerate(values):
        insns.append((_JEQ, end - (6 + i), 0, v))
    insns.append((_RET, 0, 0, _RET_ERRNO | ERRNO[rule.action]))
    assert len(insns) == end
    return b"".join(struct.pack("=HBBI", *i) for i in insns)


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
