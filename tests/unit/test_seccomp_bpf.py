"""The default seccomp program, decoded and run by a small classic-BPF interpreter."""

from __future__ import annotations

import errno

import pytest

from hutch.config.schema import KEY_BY_NAME, ContainerConfig
from hutch.linux import syscall_table
from hutch.security import capabilities, confine, seccomp
from hutch.security.seccomp import (
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
)

EPERM = SECCOMP_RET_ERRNO | errno.EPERM


def run(program: bytes, arch: int, nr: int) -> int:
    """Interpret the subset of classic BPF the filter uses; returns the action."""
    insns = seccomp.decode(program)
    acc = pc = 0
    for _ in range(len(insns)):
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # ld [k]
            assert k in (0, 4)
            acc = nr & 0xFFFFFFFF if k == 0 else arch
            pc += 1
        elif code == 0x05:  # ja
            pc += 1 + k
        elif code == 0x15:  # jeq
            pc += 1 + (jt if acc == k else jf)
        elif code == 0x45:  # jset
            pc += 1 + (jt if acc & k else jf)
        elif code == 0x06:  # ret
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("ran off the program")


DENIED = [
    "kexec_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "add_key",
    "request_key",
    "keyctl",
    "bpf",
    "perf_event_open",
    "swapon",
    "swapoff",
    "acct",
    "settimeofday",
    "clock_settime",
    "userfaultfd",
    "lookup_dcookie",
]
ALLOWED = [
    "read",
    "write",
    "openat",
    "execve",
    "clone",
    "clone3",
    "mount",
    "reboot",
    "name_to_handle_at",
    "quotactl",
    "adjtimex",
    "clock_adjtime",
    "clock_gettime",
    "ptrace",
    "unshare",
    "setns",
    "pivot_root",
]


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_native_decisions(arch: str) -> None:
    audit, table, _ = seccomp.ARCHES[arch]
    program = seccomp.build(arch=arch)
    for name in DENIED:
        assert run(program, audit, table[name]) == EPERM, name
    for name in ALLOWED:
        assert run(program, audit, table[name]) == SECCOMP_RET_ALLOW, name
    if arch == "x86_64":
        for name in ("kexec_file_load", "iopl", "ioperm", "uselib", "_sysctl", "nfsservctl"):
            assert run(program, audit, table[name]) == EPERM, name


def test_every_listed_call_is_refused_where_it_exists() -> None:
    for arch, (audit, table, compat) in seccomp.ARCHES.items():
        program = seccomp.build(arch=arch)
        tables = [(audit, table)] + ([compat] if compat else [])
        for a, t in tables:
            for name in seccomp.DEFAULT_DENY:
                if name in t:
                    assert run(program, a, t[name]) == EPERM, (arch, name)
            refused = {nr for name, nr in t.items() if name in seccomp.DEFAULT_DENY}
            for name, nr in t.items():
                if nr not in refused:
                    assert run(program, a, nr) == SECCOMP_RET_ALLOW, (arch, name)


def test_i386_compat_on_x86_64_uses_the_i386_numbers() -> None:
    program = seccomp.build(arch="x86_64")
    i386 = syscall_table.I386
    for name in ("stime", "clock_settime64", "vm86", "vm86old", "keyctl", "init_module"):
        assert run(program, AUDIT_ARCH_I386, i386[name]) == EPERM, name
    # 246 is kexec_load on x86_64 but something else on i386
    assert run(program, AUDIT_ARCH_I386, i386["read"]) == SECCOMP_RET_ALLOW
    assert run(program, AUDIT_ARCH_I386, i386["reboot"]) == SECCOMP_RET_ALLOW


def test_x32_calls_are_refused() -> None:
    program = seccomp.build(arch="x86_64")
    assert run(program, AUDIT_ARCH_X86_64, 0x40000000 | 0) == EPERM


def test_foreign_architectures_are_killed() -> None:
    assert run(seccomp.build(arch="x86_64"), AUDIT_ARCH_AARCH64, 0) == SECCOMP_RET_KILL_PROCESS
    arm = 40 | 0x40000000  # AUDIT_ARCH_ARM: aarch64's compat mode, whose numbers go unchecked
    assert run(seccomp.build(arch="aarch64"), arm, 0) == SECCOMP_RET_KILL_PROCESS
    assert run(seccomp.build(arch="aarch64"), AUDIT_ARCH_X86_64, 0) == SECCOMP_RET_KILL_PROCESS


def test_extra_names_are_refused_too() -> None:
    program = seccomp.build(("ptrace", "process_vm_writev"), arch="x86_64")
    t = syscall_table.X86_64
    assert run(program, AUDIT_ARCH_X86_64, t["ptrace"]) == EPERM
    assert run(program, AUDIT_ARCH_X86_64, t["process_vm_writev"]) == EPERM
    assert run(program, AUDIT_ARCH_X86_64, t["process_vm_readv"]) == SECCOMP_RET_ALLOW


def test_too_many_names_are_refused() -> None:
    names = tuple(sorted(syscall_table.X86_64))[: seccomp.MAX_DENY + 1]
    with pytest.raises(ValueError, match="at most"):
        seccomp.build(names, arch="x86_64")


def test_capability_defaults_and_config() -> None:
    caps = capabilities.CAPS
    dropped = capabilities.dropped()
    for name in ("CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_TIME", "CAP_MAC_ADMIN", "CAP_BPF"):
        assert caps[name] in dropped
    for name in ("CAP_SYS_BOOT", "CAP_SYS_ADMIN", "CAP_SYS_NICE", "CAP_LINUX_IMMUTABLE"):
        assert caps[name] not in dropped
    extra = capabilities.dropped(("CAP_NET_RAW",), ("CAP_SYS_TIME",))
    assert caps["CAP_NET_RAW"] in extra and caps["CAP_SYS_TIME"] not in extra
    assert capabilities.parse_cap_name("net_raw") == "CAP_NET_RAW"
    with pytest.raises(ValueError):
        capabilities.parse_cap_name("CAP_FLY")


def test_config_keys_and_record() -> None:
    key = KEY_BY_NAME["security.cap_drop"]
    assert key.parse("net_raw, CAP_SYS_CHROOT") == ("CAP_NET_RAW", "CAP_SYS_CHROOT")
    assert KEY_BY_NAME["security.seccomp"].parse("Unconfined") == "unconfined"
    with pytest.raises(ValueError):
        KEY_BY_NAME["security.seccomp"].parse("strict")
    with pytest.raises(ValueError):
        KEY_BY_NAME["security.seccomp_deny"].check(["no_such_call"])
    cfg = ContainerConfig.from_values("101", {"security.seccomp_deny": ("ptrace",)})
    rec = confine.record(cfg)
    assert rec["deny"] == ["ptrace"] and capabilities.CAPS["CAP_SYS_MODULE"] in rec["cap_drop"]
    conf = confine.prepare(rec)
    assert conf is not None and conf.seccomp is not None
    off = ContainerConfig.from_values("101", {"security.seccomp": "unconfined"})
    conf = confine.prepare(confine.record(off))
    assert conf is not None and conf.seccomp is None
    assert confine.prepare({}) is None
