"""The default seccomp program as libseccomp exports it, decoded and run by a small
classic-BPF interpreter: what the kernel would answer for a call, per architecture."""

from __future__ import annotations

import base64
import errno
import struct

import pytest
import seccomp as libseccomp

from hutch.config.schema import KEY_BY_NAME, ContainerConfig
from hutch.container.confinement import record_of
from hutch.security import capabilities, confine, seccomp
from hutch.security import seccomp_policy as policy

# <linux/audit.h>
AUDIT_ARCH = {"x86_64": 0xC000003E, "i386": 0x40000003, "aarch64": 0xC00000B7}
AUDIT_ARCH_ARM = 0x40000028  # aarch64's 32-bit compat mode
X32_SYSCALL_BIT = 0x40000000
# <linux/seccomp.h>
KILL_PROCESS = 0x80000000
ALLOW = 0x7FFF0000
EPERM = 0x00050000 | errno.EPERM
ENOSYS = 0x00050000 | errno.ENOSYS
ANSWER = {"EPERM": EPERM, "ENOSYS": ENOSYS}

# Numbers from the kernel's uapi headers (asm/unistd_64.h, asm/unistd_32.h, asm-generic
# unistd.h), written out rather than asked of libseccomp, so a wrong table would show.
# fmt: off
NR: dict[str, dict[str, int]] = {
    "x86_64": {
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
        "delete_module": 176, "open_by_handle_at": 304, "add_key": 248, "request_key": 249,
        "keyctl": 250, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "swapon": 167,
        "swapoff": 168, "acct": 163, "settimeofday": 164, "clock_settime": 227, "iopl": 172,
        "ioperm": 173, "lookup_dcookie": 212, "uselib": 134, "_sysctl": 156,
        "nfsservctl": 180,
        "read": 0, "write": 1, "openat": 257, "execve": 59, "clone": 56, "clone3": 435,
        "mount": 165, "reboot": 169, "name_to_handle_at": 303, "quotactl": 179,
        "adjtimex": 159, "clock_adjtime": 305, "clock_gettime": 228, "ptrace": 101,
        "unshare": 272, "setns": 308, "pivot_root": 155, "process_vm_readv": 310,
        "process_vm_writev": 311, "connect": 42,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "socket": 41, "personality": 135, "ioctl": 16,
        "umount2": 166, "ustat": 136, "sysfs": 139, "kcmp": 312, "mbind": 237,
        "set_mempolicy": 238, "migrate_pages": 256, "move_pages": 279, "seccomp": 317,
    },
    "i386": {
        "kexec_load": 283, "init_module": 128, "finit_module": 350, "delete_module": 129,
        "open_by_handle_at": 342, "add_key": 286, "request_key": 287, "keyctl": 288,
        "bpf": 357, "perf_event_open": 336, "userfaultfd": 374, "swapon": 87, "swapoff": 115,
        "acct": 51, "settimeofday": 79, "clock_settime": 264, "clock_settime64": 404,
        "stime": 25, "iopl": 110, "ioperm": 101, "vm86": 166, "vm86old": 113,
        "lookup_dcookie": 253, "uselib": 86, "_sysctl": 149, "nfsservctl": 169,
        "read": 3, "write": 4, "openat": 295, "execve": 11, "clone": 120, "clone3": 435,
        "mount": 21, "reboot": 88, "name_to_handle_at": 341, "quotactl": 131,
        "adjtimex": 124, "clock_adjtime": 343, "clock_gettime": 265, "ptrace": 26,
        "unshare": 310, "setns": 346, "pivot_root": 217, "process_vm_readv": 347,
        "process_vm_writev": 348, "connect": 362, "socketcall": 102,
        "io_uring_setup": 425, "fsopen": 430, "open_tree": 428, "socket": 359,
        "personality": 136, "ioctl": 54, "umount2": 52, "ustat": 62,
    },
    "aarch64": {
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
        "delete_module": 106, "open_by_handle_at": 265, "add_key": 217, "request_key": 218,
        "keyctl": 219, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "swapon": 224,
        "swapoff": 225, "acct": 89, "settimeofday": 170, "clock_settime": 112,
        "lookup_dcookie": 18, "nfsservctl": 42,
        "read": 63, "write": 64, "openat": 56, "execve": 221, "clone": 220, "clone3": 435,
        "mount": 40, "reboot": 142, "name_to_handle_at": 264, "quotactl": 60,
        "adjtimex": 171, "clock_adjtime": 266, "clock_gettime": 113, "ptrace": 117,
        "unshare": 97, "setns": 268, "pivot_root": 41, "process_vm_readv": 270,
        "process_vm_writev": 271, "connect": 203,
        "io_uring_setup": 425, "fsopen": 430, "open_tree": 428, "socket": 198,
        "personality": 92, "ioctl": 29, "umount2": 39,
    },
}
# fmt: on
ALLOWED = [
    "read",
    "write",
    "openat",
    "execve",
    "clone",
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
ALWAYS = policy.unconditional()  # name -> EPERM or ENOSYS, whatever the arguments
DENIED = {abi: sorted(set(nrs) & set(ALWAYS)) for abi, nrs in NR.items()}
LIBSECCOMP_ARCH = {
    "x86_64": libseccomp.Arch.X86_64,
    "i386": libseccomp.Arch.X86,
    "aarch64": libseccomp.Arch.AARCH64,
}


def decode(program: bytes) -> list[tuple[int, int, int, int]]:
    """`struct sock_filter` entries (u16 code, u8 jt, u8 jf, u32 k), host byte order."""
    assert program and len(program) % 8 == 0
    return [struct.unpack_from("=HBBI", program, off) for off in range(0, len(program), 8)]


def run(program: bytes, abi: str | int, nr: int, args: tuple[int, ...] = ()) -> int:
    """Interpret the classic BPF libseccomp emits for these rules; returns the action."""
    arch = AUDIT_ARCH[abi] if isinstance(abi, str) else abi
    args = (*args, 0, 0, 0, 0, 0, 0)[:6]
    data = struct.pack("=IIQ6Q", nr & 0xFFFFFFFF, arch, 0, *args)  # struct seccomp_data
    insns = decode(program)
    acc = pc = 0
    for _ in range(len(insns)):
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            (acc,) = struct.unpack_from("=I", data, k)
        elif code == 0x54:  # and k
            acc &= k
        elif code == 0x05:  # ja
            pc += k
        elif code in (0x15, 0x25, 0x35, 0x45):  # jeq, jgt, jge, jset
            taken = {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if taken else jf
        elif code == 0x06:  # ret
            return k
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("ran off the program")


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_native_decisions(arch: str) -> None:
    program = seccomp.build(arch=arch)
    for name in DENIED[arch]:
        assert run(program, arch, NR[arch][name]) == ANSWER[ALWAYS[name]], name
    for name in ALLOWED:
        assert run(program, arch, NR[arch][name]) == ALLOW, name
    for name in ("kexec_load", "init_module", "keyctl", "open_by_handle_at", "clone3"):
        assert name in DENIED[arch]
    for name in ("io_uring_setup", "open_by_handle_at"):
        assert run(program, arch, NR[arch][name]) == EPERM, name
    for name in ("clone3", "fsopen", "open_tree"):
        assert run(program, arch, NR[arch][name]) == ENOSYS, name


def test_every_listed_call_is_refused_where_it_exists() -> None:
    """Every number an architecture defines: EPERM if its name is listed, else allowed."""
    for arch, abis in (("x86_64", ("x86_64", "i386")), ("aarch64", ("aarch64",))):
        program = seccomp.build(arch=arch)
        for abi in abis:
            seen = 0
            for nr in range(1024):
                try:
                    name = libseccomp.resolve_syscall(LIBSECCOMP_ARCH[abi], nr).decode()
                except ValueError:  # no call with that number
                    continue
                seen += 1
                # with all arguments 0: only the unconditional rules refuse
                want = ANSWER[ALWAYS[name]] if name in ALWAYS else ALLOW
                assert run(program, abi, nr) == want, (arch, abi, name)
            assert seen > 250, abi


def test_i386_compat_on_x86_64_uses_the_i386_numbers() -> None:
    program = seccomp.build(arch="x86_64")
    for name in DENIED["i386"]:
        assert run(program, "i386", NR["i386"][name]) == ANSWER[ALWAYS[name]], name
    for name in ("stime", "clock_settime64", "vm86", "vm86old", "keyctl", "init_module"):
        assert name in DENIED["i386"]
    for name in ALLOWED:
        assert run(program, "i386", NR["i386"][name]) == ALLOW, name
    # 246 is kexec_load on x86_64 but not on i386, 250 is keyctl on x86_64 only
    assert run(program, "i386", 246) == ALLOW
    assert run(program, "i386", 250) == ALLOW


def test_x32_calls_and_foreign_architectures_are_killed() -> None:
    x86 = seccomp.build(arch="x86_64")
    for nr in (0, NR["x86_64"]["execve"], NR["x86_64"]["kexec_load"], 512):
        assert run(x86, "x86_64", X32_SYSCALL_BIT | nr) == KILL_PROCESS, nr
    assert run(x86, "aarch64", 0) == KILL_PROCESS
    assert run(x86, AUDIT_ARCH_ARM, 0) == KILL_PROCESS
    arm = seccomp.build(arch="aarch64")
    assert run(arm, AUDIT_ARCH_ARM, 0) == KILL_PROCESS  # its numbers go unchecked
    assert run(arm, "x86_64", 0) == KILL_PROCESS
    assert run(arm, "i386", 0) == KILL_PROCESS


# -- the policy table ---------------------------------------------------------------------


def test_every_decision_has_a_reason_and_the_peers() -> None:
    names = [r.syscall for r in policy.POLICY]
    for rule in policy.POLICY:
        assert rule.action in (policy.EPERM, policy.ENOSYS, policy.ALLOW), rule
        assert len(rule.why) > 8 and "Docker" in rule.peers, rule
        assert seccomp.parse_syscall_name(rule.syscall) == rule.syscall
        if rule.action == policy.ALLOW:
            assert rule.when is None and names.count(rule.syscall) == 1, rule
    # a call is decided once, or by argument values only
    for name in set(names):
        rules = [r for r in policy.POLICY if r.syscall == name]
        assert len(rules) == 1 or all(r.when is not None for r in rules), name
    # the decisions issue 12 asked for are all written down
    for name in (
        "io_uring_setup", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount",
        "mount_setattr", "clone3", "clone", "unshare", "socket", "personality", "ioctl",
        "keyctl", "bpf", "perf_event_open", "userfaultfd", "kcmp", "lookup_dcookie", "mbind",
        "set_mempolicy", "migrate_pages", "move_pages", "name_to_handle_at",
        "open_by_handle_at", "quotactl", "vm86", "uselib", "ustat", "sysfs", "nfsservctl",
        "settimeofday", "process_vm_readv", "process_vm_writev", "ptrace",
    ):  # fmt: skip
        assert name in names, name


def _masked_rules() -> list[policy.Rule]:
    return [r for r in policy.refused() if isinstance(r.when, policy.Masked)]


@pytest.mark.parametrize("abi", ["x86_64", "i386", "aarch64"])
def test_argument_rules(abi: str) -> None:
    """Each (arg & mask) == value rule refuses its values, with junk in the upper half of a
    32-bit argument too (the kernel ignores it), and allows its neighbours."""
    program = seccomp.build(arch="aarch64" if abi == "aarch64" else "x86_64")
    for rule in _masked_rules():
        if rule.syscall not in NR[abi]:
            continue
        w = rule.when
        nr = NR[abi][rule.syscall]

        def call(value: int, w: policy.Masked = w, nr: int = nr) -> int:
            args = [0] * 6
            args[w.index] = value
            return run(program, abi, nr, tuple(args))

        assert call(w.value) == ANSWER[rule.action], rule
        assert call(w.value | (1 << 40 if abi != "i386" else 0)) == ANSWER[rule.action], rule
        if w.mask == policy.LOW32 and abi != "i386":
            assert call(w.value | 0xABCD << 32) == ANSWER[rule.action], rule
        assert call(0) == ALLOW, rule
        neighbour = w.value ^ 0x1000 if w.mask == policy.LOW32 else ~w.mask & 0x0FFFFFFF
        assert call(neighbour) == ALLOW, rule


@pytest.mark.parametrize("abi", ["x86_64", "i386", "aarch64"])
def test_the_decisions_by_argument(abi: str) -> None:
    program = seccomp.build(arch="aarch64" if abi == "aarch64" else "x86_64")
    nr = NR[abi]

    def call(name: str, *args: int) -> int:
        return run(program, abi, nr[name], args)

    # nested user namespaces: clone and unshare with CLONE_NEWUSER, clone3 not at all
    assert call("clone", 0x10000000 | 17) == EPERM  # SIGCHLD | CLONE_NEWUSER
    assert call("clone", 0x003D0F00) == ALLOW  # pthread_create's flags
    assert call("clone", 0x01200011) == ALLOW  # fork()
    assert call("unshare", 0x10000000 | 0x00020000) == EPERM  # CLONE_NEWUSER | CLONE_NEWNS
    assert call("unshare", 0x00020000) == ALLOW  # a mount namespace of one's own
    assert call("clone3", 0, 88) == ENOSYS
    # vsock, and only vsock
    assert call("socket", 40, 1, 0) == EPERM
    for domain in (1, 2, 10, 16, 17):  # unix, inet, inet6, netlink, packet
        assert call("socket", domain, 1, 0) == ALLOW, domain
    # terminal input injection, and no other ioctl
    assert call("ioctl", 0, 0x5412) == EPERM  # TIOCSTI
    assert call("ioctl", 0, 0x541C) == EPERM  # TIOCLINUX
    for req in (0x5401, 0x540E, 0x5413, 0x5414, 0x80045430, 0x4004AE44):
        assert call("ioctl", 0, req) == ALLOW, hex(req)  # TCGETS, TIOCSCTTY, TIOCGWINSZ...
    # forced umounts only
    assert call("umount2", 0, 1) == EPERM  # MNT_FORCE
    assert call("umount2", 0, 3) == EPERM  # MNT_FORCE | MNT_DETACH
    assert call("umount2", 0, 2) == ALLOW  # MNT_DETACH
    # personality: Linux, linux32, uname26 and the query; nothing else
    for persona in (0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert call("personality", persona) == ALLOW, hex(persona)
    for persona in (0x0040000, 0x0400000, 0x0100000, 0x0040008, 0x1, 0xFFFFFFFE, 0x08000000):
        assert call("personality", persona) == EPERM, hex(persona)  # ADDR_NO_RANDOMIZE, ...
    if abi != "i386":
        # the kernel reads an unsigned int: upper junk is ignored there, and here
        assert call("personality", 0x1_0000_0008) == ALLOW
        assert call("personality", 0x1_0040_0000) == EPERM
    # the other architecture's personality number is not touched
    other = {"x86_64": 92, "i386": 135, "aarch64": 135}[abi]  # aarch64's, x86_64's
    assert run(program, abi, other, (0x400000,)) == ALLOW


def test_i386_socketcall_cannot_show_the_domain() -> None:
    """socketcall(SYS_SOCKET, args) hides the domain behind a pointer: libseccomp refuses
    it whole once socket has an argument rule; the direct i386 socket call is checked."""
    program = seccomp.build(arch="x86_64")
    assert run(program, "i386", NR["i386"]["socketcall"], (1,)) == EPERM  # SYS_SOCKET
    assert run(program, "i386", NR["i386"]["socketcall"], (8,)) == ALLOW  # SYS_SOCKETPAIR
    assert run(program, "i386", NR["i386"]["socket"], (2, 1, 0)) == ALLOW
    assert run(program, "i386", NR["i386"]["socket"], (40, 1, 0)) == EPERM


def test_the_prologue_is_short_and_falls_through() -> None:
    """The hand-written part: one block per (architecture, OneOf rule), then libseccomp's
    program unchanged."""
    for arch, arches in (("x86_64", 2), ("aarch64", 1)):
        program = seccomp.build(arch=arch)
        rules = [r for r in policy.refused() if isinstance(r.when, policy.OneOf)]
        size = sum(len(r.when.values) + 6 for r in rules) * arches * 8
        insns = decode(program)
        assert insns[size // 8] == (0x20, 0, 0, 4), arch  # libseccomp's first load: arch
        assert len(program) < 4096 * 8 // 8


def test_extra_names_are_refused_too() -> None:
    extra = ("ptrace", "process_vm_writev", "connect", "clone", "clone3", "personality")
    for arch in ("x86_64", "aarch64"):
        program = seccomp.build(extra, arch=arch)
        for name in extra:
            want = ENOSYS if name == "clone3" else EPERM
            assert run(program, arch, NR[arch][name]) == want, (arch, name)
        assert run(program, arch, NR[arch]["process_vm_readv"]) == ALLOW, arch
        # clone: refused outright now, not only with CLONE_NEWUSER; clone3 keeps ENOSYS
        assert run(program, arch, NR[arch]["clone"], (17,)) == EPERM, arch
        assert run(program, arch, NR[arch]["clone3"]) == ENOSYS, arch
    program = seccomp.build(extra, arch="x86_64")
    i386 = NR["i386"]
    assert run(program, "i386", i386["ptrace"]) == EPERM
    # i386 reaches connect directly and through socketcall(SYS_CONNECT): both refused
    assert run(program, "i386", i386["connect"]) == EPERM
    assert run(program, "i386", i386["socketcall"], (3,)) == EPERM
    assert run(program, "i386", i386["socketcall"], (2,)) == ALLOW  # SYS_BIND


def test_names_are_checked() -> None:
    assert seccomp.parse_syscall_name(" ptrace ") == "ptrace"
    assert seccomp.parse_syscall_name("stime") == "stime"  # i386 only, still a call
    for bad in ("no_such_call", "", "ptrace;"):
        with pytest.raises(ValueError, match="is not a system call name"):
            seccomp.parse_syscall_name(bad)
    with pytest.raises(ValueError, match="is not a system call name"):
        seccomp.build(("no_such_call",), arch="x86_64")
    with pytest.raises(ValueError, match="no seccomp filter for the mips"):
        seccomp.build(arch="mips")


def test_too_many_names_are_refused() -> None:
    names = tuple(
        libseccomp.resolve_syscall(libseccomp.Arch.X86_64, nr).decode()
        for nr in range(seccomp.MAX_DENY + 1)
    )
    with pytest.raises(ValueError, match="at most"):
        seccomp.build(names, arch="x86_64")


def test_library_version() -> None:
    version = seccomp.library_version()
    assert version is not None and version.split(".")[0] == "2", version


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
    rec = record_of(cfg)
    assert rec["deny"] == ["ptrace"] and capabilities.CAPS["CAP_SYS_MODULE"] in rec["cap_drop"]
    # the run state keeps the compiled program: prepare (as `exec` does) only decodes it
    program = seccomp.build(("ptrace",))
    assert base64.b64decode(rec["seccomp"]) == program
    conf = confine.prepare(rec)
    assert conf is not None and conf.seccomp == program
    # a record kept by an older hutch has only the names: compiled then, to the same program
    old = {k: v for k, v in rec.items() if k != "seccomp"}
    assert confine.prepare(old) == conf
    off = ContainerConfig.from_values("101", {"security.seccomp": "unconfined"})
    rec = record_of(off)
    assert "seccomp" not in rec and rec["deny"] is None
    conf = confine.prepare(rec)
    assert conf is not None and conf.seccomp is None
    assert confine.prepare({}) is None
