"""The default seccomp filter: a classic BPF program, built here without libseccomp.

The filter refuses with EPERM the system calls whose effect is not confined by a namespace
(modules, kexec, the host clock, swap, the kernel keyring, BPF and perf, raw I/O ports) and
allows everything else: a system container runs a whole distribution, so a deny list is the
right shape. It checks the architecture first. On x86_64 the i386 compat calls get the same
refusals from the i386 table and x32 calls (bit 30 of the number) are refused as a whole; any
other architecture (aarch64's 32-bit ARM compat, for one) kills the process, since its numbers
are not checked.

The program is `struct sock_filter` entries (u16 code, u8 jt, u8 jf, u32 k) in host byte
order, for prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER). Without no_new_privs loading it needs
CAP_SYS_ADMIN, which the container's root has: no_new_privs stays off, so setuid binaries in
the container keep working.
"""

from __future__ import annotations

import errno
import os
import struct

from hutch.linux import syscall_table

# <linux/audit.h>
AUDIT_ARCH_X86_64 = 62 | 0x80000000 | 0x40000000
AUDIT_ARCH_I386 = 3 | 0x40000000
AUDIT_ARCH_AARCH64 = 183 | 0x80000000 | 0x40000000
X32_SYSCALL_BIT = 0x40000000

# <linux/filter.h>, <linux/bpf_common.h>
BPF_LD_W_ABS = 0x00 | 0x00 | 0x20
BPF_JMP_JA = 0x05 | 0x00
BPF_JMP_JEQ_K = 0x05 | 0x10 | 0x00
BPF_JMP_JSET_K = 0x05 | 0x40 | 0x00
BPF_RET_K = 0x06 | 0x00

# <linux/seccomp.h>
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
DATA_NR = 0  # offsetof(struct seccomp_data, nr)
DATA_ARCH = 4  # offsetof(struct seccomp_data, arch)

RET_EPERM = SECCOMP_RET_ERRNO | errno.EPERM

# Refused by default, each for a reason. Names absent from an architecture's table (iopl on
# aarch64, stime outside i386) are skipped there. Deliberately ALLOWED: reboot (in a pid
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

# architecture -> (its audit arch, its table, a compat architecture checked too)
ARCHES: dict[str, tuple[int, dict[str, int], tuple[int, dict[str, int]] | None]] = {
    "x86_64": (
        AUDIT_ARCH_X86_64,
        syscall_table.X86_64,
        (AUDIT_ARCH_I386, syscall_table.I386),
    ),
    "aarch64": (AUDIT_ARCH_AARCH64, syscall_table.AARCH64, None),
}
ALL_NAMES: frozenset[str] = frozenset(
    syscall_table.X86_64.keys() | syscall_table.I386.keys() | syscall_table.AARCH64.keys()
)
MAX_DENY = 250  # a conditional jump reaches 255 instructions ahead


def parse_syscall_name(text: str) -> str:
    name = text.strip()
    if name not in ALL_NAMES:
        raise ValueError(f"{text!r} is not a system call name (such as ptrace)")
    return name


def host_arch() -> str:
    return os.uname().machine


def _insn(code: int, k: int = 0, jt: int = 0, jf: int = 0) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def _section(
    table: dict[str, int], names: list[str], x32_guard: bool
) -> list[tuple[int, int, int, int]]:
    """Check the call number against `names`: EPERM if listed, else allow."""
    nrs = sorted({table[n] for n in names if n in table})
    checks: list[tuple[int, int, int]] = []  # (code, k, 0)
    if x32_guard:
        checks.append((BPF_JMP_JSET_K, X32_SYSCALL_BIT, 0))
    checks += [(BPF_JMP_JEQ_K, nr, 0) for nr in nrs]
    if len(checks) > MAX_DENY:
        raise ValueError(f"a seccomp filter refuses at most {MAX_DENY} system calls")
    out = [_insn(BPF_LD_W_ABS, DATA_NR)]
    for i, (code, k, _) in enumerate(checks):
        # jump over the remaining checks and the ALLOW to the EPERM return
        out.append(_insn(code, k, jt=len(checks) - i, jf=0))
    out.append(_insn(BPF_RET_K, SECCOMP_RET_ALLOW))
    out.append(_insn(BPF_RET_K, RET_EPERM))
    return out


def build(extra_deny: tuple[str, ...] = (), arch: str | None = None) -> bytes:
    """The filter program for `arch` (default: this host's) as bytes."""
    arch = arch or host_arch()
    if arch not in ARCHES:
        raise ValueError(f"no seccomp filter for the {arch} architecture")
    audit_arch, table, compat = ARCHES[arch]
    names = sorted(set(DEFAULT_DENY) | set(extra_deny))
    native = _section(table, names, x32_guard=arch == "x86_64")
    prog = [_insn(BPF_LD_W_ABS, DATA_ARCH)]
    if compat is None:
        prog += [
            _insn(BPF_JMP_JEQ_K, audit_arch, jt=1, jf=0),
            _insn(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
        ]
        prog += native
    else:
        compat_arch, compat_table = compat
        prog += [
            _insn(BPF_JMP_JEQ_K, audit_arch, jt=3, jf=0),  # -> native
            _insn(BPF_JMP_JEQ_K, compat_arch, jt=0, jf=1),
            _insn(BPF_JMP_JA, len(native) + 1),  # -> compat (ja takes a 32-bit offset)
            _insn(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
        ]
        prog += native
        prog += _section(compat_table, names, x32_guard=False)
    return b"".join(struct.pack("=HBBI", *insn) for insn in prog)


def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    """The program back as (code, jt, jf, k) tuples."""
    return [struct.unpack_from("=HBBI", program, off) for off in range(0, len(program), 8)]
