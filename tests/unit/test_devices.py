"""The device allowlist: config key, v1 lines and the hand-built v2 BPF program (no root)."""

from __future__ import annotations

import struct

import pytest

from hutch.config.schema import KEY_BY_NAME
from hutch.security import devices


def test_default_list_has_the_system_devices_and_ptys_only():
    lines = {r.v1() for r in devices.allowlist()}
    for dev in ("1:3", "1:5", "1:7", "1:8", "1:9", "5:0", "5:1", "5:2", "136:*"):
        assert f"c {dev} rwm" in lines
    assert "c 10:229 rwm" not in lines and "c 10:200 rwm" not in lines
    assert not any(line.startswith("b") and not line.endswith(" m") for line in lines)


def test_opt_ins_and_the_config_key():
    key = KEY_BY_NAME["security.devices"]
    assert not key.live
    assert key.parse("fuse,tun") == ("fuse", "tun")
    assert key.check(["fuse"]) == ("fuse",)
    with pytest.raises(ValueError, match="unknown device 'sda'"):
        key.check(["sda"])
    assert "c 10:200 rwm" in {r.v1() for r in devices.allowlist(("tun",))}
    assert devices.nodes(("fuse", "tun")) == ("fuse", "net/tun")


def _run(prog: bytes, kind: int, access: int, major: int, minor: int) -> int:
    """A tiny interpreter of exactly the instructions `program` emits."""
    regs = [0] * 11
    ctx = struct.pack("=III", (access << 16) | kind, major, minor)
    pc = 0
    n = len(prog) // 8
    while pc < n:
        code, regs_byte, off, imm = struct.unpack_from("<BBhi", prog, pc * 8)
        dst, src = regs_byte & 0xF, regs_byte >> 4
        pc += 1
        if code == 0x61:
            (regs[dst],) = struct.unpack_from("=I", ctx, off)
        elif code == 0x54:
            regs[dst] &= imm & 0xFFFFFFFF
        elif code == 0x74:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == 0xB7:
            regs[dst] = imm
        elif code == 0xBF:
            regs[dst] = regs[src]
        elif code == 0x55:
            if regs[dst] != imm:
                pc += off
        elif code == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("fell off the end")


@pytest.mark.parametrize(
    ("kind", "access", "major", "minor", "allowed"),
    [
        (2, 2 | 4, 1, 3, 1),  # rw /dev/null
        (2, 2, 1, 1, 0),  # read /dev/mem
        (1, 2, 8, 0, 0),  # read /dev/sda
        (1, 1, 8, 0, 1),  # mknod /dev/sda
        (2, 2, 136, 7, 1),  # a pty
        (2, 2, 10, 229, 0),  # fuse, not opted in
    ],
)
def test_the_bpf_program_decides_like_the_v1_rules(kind, access, major, minor, allowed):
    assert _run(devices.program(devices.allowlist()), kind, access, major, minor) == allowed


def test_the_bpf_program_allows_an_opt_in():
    assert _run(devices.program(devices.allowlist(("fuse",))), 2, 6, 10, 229) == 1
