"""The devices a container may use, and the two ways the kernel enforces that list.

A container gets the character devices a system needs (null, zero, full, random, urandom,
tty, its console, ptmx and its own devpts ptys); `fuse` and `tun` are opt-in
(`security.devices`). Creating any node (mknod) stays allowed, as in LXC and runc, so a
package that makes nodes installs; opening one that is not listed fails with EPERM.

cgroup v1 enforces the list through the devices controller (`devices.allow` lines);
cgroup v2 has no such files: the kernel runs a BPF_PROG_TYPE_CGROUP_DEVICE program,
built here by hand from the same rules (`program`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

BLOCK, CHAR = "b", "c"


@dataclass(frozen=True)
class DeviceRule:
    """Allow `access` (a subset of "rwm") on devices of `kind` b or c; None is any number."""

    kind: str
    major: int | None
    minor: int | None
    access: str = "rwm"

    def v1(self) -> str:
        """The rule as a line of the v1 devices controller: "c 1:3 rwm"."""
        major = "*" if self.major is None else str(self.major)
        minor = "*" if self.minor is None else str(self.minor)
        return f"{self.kind} {major}:{minor} {self.access}"


# Unix98 ptys: majors 136-143 (UNIX98_PTY_MAJOR_COUNT), whatever devpts instance holds them
PTY_MAJORS = range(136, 144)

BASELINE: tuple[DeviceRule, ...] = (
    DeviceRule(CHAR, None, None, "m"),  # mknod of any node; open is what is checked
    DeviceRule(BLOCK, None, None, "m"),
    DeviceRule(CHAR, 1, 3),  # null
    DeviceRule(CHAR, 1, 5),  # zero
    DeviceRule(CHAR, 1, 7),  # full
    DeviceRule(CHAR, 1, 8),  # random
    DeviceRule(CHAR, 1, 9),  # urandom
    DeviceRule(CHAR, 5, 0),  # tty
    DeviceRule(CHAR, 5, 1),  # console
    DeviceRule(CHAR, 5, 2),  # ptmx
    *(DeviceRule(CHAR, major, None) for major in PTY_MAJORS),  # devpts ptys and the console
)

# name in `security.devices` -> (node under /dev, its rule)
OPTIONAL: dict[str, tuple[str, DeviceRule]] = {
    "fuse": ("fuse", DeviceRule(CHAR, 10, 229)),
    "tun": ("net/tun", DeviceRule(CHAR, 10, 200)),
}


def parse_devices(items: tuple[str, ...]) -> tuple[str, ...]:
    """Check `security.devices` names; ValueError naming the unknown one."""
    for item in items:
        if item not in OPTIONAL:
            raise ValueError(f"unknown device {item!r} (one of: {', '.join(OPTIONAL)})")
    return tuple(dict.fromkeys(items))


def allowlist(optional: tuple[str, ...] = ()) -> tuple[DeviceRule, ...]:
    return BASELINE + tuple(OPTIONAL[name][1] for name in optional)


def nodes(optional: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The opt-in device nodes to bind into /dev (paths below /dev)."""
    return tuple(OPTIONAL[name][0] for name in optional)


# -- the cgroup v2 program -------------------------------------------------------------------
# struct bpf_cgroup_dev_ctx { u32 access_type; /* access << 16 | type */ u32 major, minor; }
# returns 1 to allow, 0 to deny (EPERM)

_DEVCG_TYPE = {BLOCK: 1, CHAR: 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_DEVCG_ACC = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

# opcodes (linux/bpf_common.h, linux/bpf.h)
_LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
_ALU32_AND_K = 0x54
_ALU32_RSH_K = 0x74
_MOV64_K = 0xB7
_MOV64_X = 0xBF
_JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
_EXIT = 0x95


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _match(rule: DeviceRule) -> list[bytes]:
    """Instructions that return 1 if the device matches `rule`, else fall through.
    Registers: r2 type, r3 access, r4 major, r5 minor."""
    tests = [(2, _DEVCG_TYPE[rule.kind])]
    if rule.major is not None:
        tests.append((4, rule.major))
    if rule.minor is not None:
        tests.append((5, rule.minor))
    mask = sum(_DEVCG_ACC[a] for a in rule.access)
    # access check: (r3 & ~mask) must be 0, computed in r0
    tail = [
        _insn(_MOV64_X, dst=0, src=3),
        _insn(_ALU32_AND_K, dst=0, imm=~mask & 0x7FFFFFFF),
        _insn(_JNE_K, dst=0, off=2, imm=0),
        _insn(_MOV64_K, dst=0, imm=1),
        _insn(_EXIT),
    ]
    out: list[bytes] = []
    for i, (reg, value) in enumerate(tests):
        skip = (len(tests) - i - 1) + len(tail)  # past the rest of this rule
        out.append(_insn(_JNE_K, dst=reg, off=skip, imm=value))
    return out + tail


def program(rules: tuple[DeviceRule, ...]) -> bytes:
    """The BPF_PROG_TYPE_CGROUP_DEVICE program for `rules`, as packed struct bpf_insn."""
    insns = [
        _insn(_LDX_W, dst=2, src=1, off=0),
        _insn(_ALU32_AND_K, dst=2, imm=0xFFFF),
        _insn(_LDX_W, dst=3, src=1, off=0),
        _insn(_ALU32_RSH_K, dst=3, imm=16),
        _insn(_LDX_W, dst=4, src=1, off=4),
        _insn(_LDX_W, dst=5, src=1, off=8),
    ]
    for rule in rules:
        insns += _match(rule)
    insns += [_insn(_MOV64_K, dst=0, imm=0), _insn(_EXIT)]
    return b"".join(insns)
