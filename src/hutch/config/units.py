"""Resource values as operators write them: sizes (512M, 2G), OpenVZ `barrier:limit` pairs,
CPU lists (0-1,3) and per-device IO rules (sda=10M:5M).

Config values stay the canonical strings these parsers return (so config.toml keeps what
the operator wrote); the `*_bytes` / `*_values` functions turn them into numbers for the
cgroup drivers and cannot fail on a canonical string.
"""

from __future__ import annotations

import os
import re

UNLIMITED = ("unlimited", "max", "-1", "9223372036854775807")  # the last: OpenVZ's LONG_MAX
_SUFFIX = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:I?B)?", re.IGNORECASE)
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def size_bytes(text: str) -> int | None:
    """Bytes of a size, None for unlimited. `512M`, `2G`, `1.5G`, `1048576`, `64KiB`."""
    t = text.strip()
    if t.lower() in UNLIMITED:
        return None
    m = _SIZE.fullmatch(t)
    if not m:
        raise ValueError(f"{text!r} is not a size (write bytes, or 512M, 2G, unlimited)")
    value = float(m.group(1)) * _SUFFIX[m.group(2).upper()]
    if value != int(value):
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(value)


def parse_size(text: str) -> str:
    size_bytes(text)
    return text.strip()


def _pair(text: str) -> tuple[str, str]:
    parts = text.strip().split(":")
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"{text!r} is not VALUE or BARRIER:LIMIT")


def size_pair_bytes(text: str) -> tuple[int | None, int | None]:
    """(barrier, limit) in bytes from `LIMIT` or `BARRIER:LIMIT`; None means unlimited."""
    b, lim = _pair(text)
    return size_bytes(b), size_bytes(lim)


def parse_size_pair(text: str) -> str:
    barrier, limit = size_pair_bytes(text)
    _ordered(barrier, limit, text)
    return text.strip()


def count(text: str) -> int | None:
    t = text.strip()
    if t.lower() in UNLIMITED:
        return None
    if not t.isdigit():
        raise ValueError(f"{text!r} is not a whole number (or unlimited)")
    return int(t)


def count_pair_values(text: str) -> tuple[int | None, int | None]:
    b, lim = _pair(text)
    return count(b), count(lim)


def parse_count_pair(text: str) -> str:
    barrier, limit = count_pair_values(text)
    _ordered(barrier, limit, text)
    return text.strip()


def _ordered(barrier: int | None, limit: int | None, text: str) -> None:
    if barrier is not None and limit is not None and barrier > limit:
        raise ValueError(f"{text!r}: the barrier is above the limit")


_CPULIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")


def parse_cpulist(text: str) -> str:
    t = text.strip().replace(" ", "")
    if not _CPULIST.fullmatch(t):
        raise ValueError(f"{text!r} is not a CPU list (write 0-1,3)")
    for part in t.split(","):
        lo, _, hi = part.partition("-")
        if hi and int(hi) < int(lo):
            raise ValueError(f"{text!r}: range {part} runs backwards")
    return t


_DEVICE = re.compile(r"(\d+:\d+|/dev/[\w./-]+|[\w-]+)")


def parse_io_rules(text: str, rate: str = "size") -> tuple[str, ...]:
    """`DEVICE=READ[:WRITE]` rules, comma-separated: `sda=10M:5M,8:16=1M` (bytes/s), or
    operations per second with rate="count". DEVICE is a name, /dev/path or MAJOR:MINOR."""
    rules = []
    for item in (i.strip() for i in text.split(",") if i.strip()):
        dev, eq, rates = item.rpartition("=")
        if not eq or not _DEVICE.fullmatch(dev):
            raise ValueError(f"{item!r} is not DEVICE=READ[:WRITE] (e.g. sda=10M:5M)")
        parse = size_bytes if rate == "size" else count
        for r in _pair(rates):
            parse(r)
        rules.append(item)
    return tuple(rules)


def io_rule_values(item: str, rate: str = "size") -> tuple[str, int | None, int | None]:
    """(device, read, write) of one rule; the device as written."""
    dev, _, rates = item.rpartition("=")
    parse = size_bytes if rate == "size" else count
    r, w = _pair(rates)
    return dev, parse(r), parse(w)


def device_number(dev: str) -> str:
    """MAJOR:MINOR of a block device given as a name, /dev path or MAJOR:MINOR."""
    if re.fullmatch(r"\d+:\d+", dev):
        return dev
    if dev.startswith("/dev/"):
        try:
            st = os.stat(dev)
        except FileNotFoundError:
            raise ValueError(f"no block device {dev!r} on this host") from None
        return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    try:
        with open(f"/sys/class/block/{dev}/dev") as f:
            return f.read().strip()
    except FileNotFoundError:
        raise ValueError(f"no block device {dev!r} on this host") from None
