"""bpf(2), as far as hutch needs it: load a cgroup device program, attach it to a cgroup,
list and detach what is attached (linux/bpf.h)."""

from __future__ import annotations

import ctypes
import os
import struct

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

_NR_BPF = 321 if os.uname().machine == "x86_64" else 280  # aarch64
_LOG_SIZE = 65536

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: bytes, what: str) -> tuple[int, bytes]:
    """bpf(cmd, attr); the kernel may write back into attr (queries), so it is returned."""
    buf = ctypes.create_string_buffer(attr, 128)
    ret = _libc.syscall(_NR_BPF, cmd, buf, ctypes.c_uint(128))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({what}): {os.strerror(err)}")
    return int(ret), buf.raw


def prog_load(prog_type: int, insns: bytes, license: str = "GPL") -> int:
    """Load a program (its instructions packed as struct bpf_insn); its fd, close-on-exec.
    A program the verifier refuses raises OSError with the verifier's log."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(_LOG_SIZE)
    # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
    attr = struct.pack(
        "=IIQQIIQ",
        prog_type,
        len(insns) // 8,
        ctypes.addressof(code),
        ctypes.addressof(lic),
        1,
        _LOG_SIZE,
        ctypes.addressof(log),
    )
    try:
        fd, _ = _bpf(BPF_PROG_LOAD, attr, "BPF_PROG_LOAD")
    except OSError as e:
        text = log.value.decode(errors="replace").strip()
        raise OSError(e.errno, f"{e.strerror}{': ' + text if text else ''}") from None
    return fd


def prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
    # target_fd, attach_bpf_fd, attach_type, attach_flags
    _bpf(BPF_PROG_ATTACH, struct.pack("=IIII", target_fd, prog_fd, attach_type, flags), "ATTACH")


def prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    _bpf(BPF_PROG_DETACH, struct.pack("=III", target_fd, prog_fd, attach_type), "DETACH")


def prog_get_fd_by_id(prog_id: int) -> int:
    fd, _ = _bpf(BPF_PROG_GET_FD_BY_ID, struct.pack("=I", prog_id), "BPF_PROG_GET_FD_BY_ID")
    return fd


def prog_query(target_fd: int, attach_type: int, max_ids: int = 64) -> list[int]:
    """IDs of the programs attached to a cgroup itself (not those inherited)."""
    ids = (ctypes.c_uint32 * max_ids)()
    # target_fd, attach_type, query_flags, attach_flags, prog_ids, prog_cnt
    attr = struct.pack("=IIIIQI", target_fd, attach_type, 0, 0, ctypes.addressof(ids), max_ids)
    _, out = _bpf(BPF_PROG_QUERY, attr, "BPF_PROG_QUERY")
    (count,) = struct.unpack_from("=I", out, 24)
    return list(ids[: min(count, max_ids)])
