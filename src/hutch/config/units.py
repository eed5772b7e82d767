"""Resource values as operators write them: sizes (512M, 2G), OpenVZ `barrier:limit` pairs,
CPU lists (0-1,3) and per-device IO rules (sda=10M:5M).

The key parsers return typed values, once, at the edge: sizes and counts as ints (None:
unlimited), pairs as `values.Pair`, IO rules as `values.IoRate`; the `render_*` functions
write them back in their canonical text (the largest unit that is exact: 1536M, not 1.5G),
which parses to the same value. The storage keys still keep their text (`parse_size_pair`,
`parse_count_pair`), read as numbers by `size_pair_bytes` / `count_pair_values`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from hutch.config.values import IoRate, Pair

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


def parse_size(text: str) -> int | None:
    return size_bytes(text)


_RENDER_UNITS = ("P", "T", "G", "M", "K")


def render_size(value: int | None) -> str:
    """A size in the largest unit that holds it exactly: 1073741824 -> 1G, 1610612736 -> 1536M."""
    if value is None:
        return "unlimited"
    for suffix in _RENDER_UNITS:
        unit = _SUFFIX[suffix]
        if value >= unit and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)


def render_count(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


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
    size_pair(text)
    return text.strip()


def size_pair(text: str) -> Pair:
    """`LIMIT` or `BARRIER:LIMIT` of sizes, the barrier not above the limit."""
    barrier, limit = size_pair_bytes(text)
    _ordered(barrier, limit, text)
    return Pair(barrier, limit)


def render_size_pair(pair: Pair) -> str:
    return _render_pair(pair, render_size)


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
    count_pair(text)
    return text.strip()


def count_pair(text: str) -> Pair:
    """`LIMIT` or `BARRIER:LIMIT` of counts (or pages), the barrier not above the limit."""
    barrier, limit = count_pair_values(text)
    _ordered(barrier, limit, text)
    return Pair(barrier, limit)


def render_count_pair(pair: Pair) -> str:
    return _render_pair(pair, render_count)


def _render_pair(pair: Pair, render: Callable[[int | None], str]) -> str:
    if pair.barrier == pair.limit:
        return render(pair.limit)  # as one value is read: both
    return f"{render(pair.barrier)}:{render(pair.limit)}"


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


def parse_io_rules(text: str, rate: str = "size") -> tuple[IoRate, ...]:
    """`DEVICE=READ[:WRITE]` rules, comma-separated: `sda=10M:5M,8:16=1M` (bytes/s), or
    operations per second with rate="count". DEVICE is a name, /dev/path or MAJOR:MINOR."""
    rules = []
    for item in (i.strip() for i in text.split(",") if i.strip()):
        dev, eq, rates = item.rpartition("=")
        if not eq or not _DEVICE.fullmatch(dev):
            raise ValueError(f"{item!r} is not DEVICE=READ[:WRITE] (e.g. sda=10M:5M)")
        parse = size_bytes if rate == "size" else count
        r, w = _pair(rates)
        rules.append(IoRate(dev, parse(r), parse(w)))
    return tuple(rules)


def render_io_rule(rule: IoRate, rate: str = "size") -> str:
    render = render_size if rate == "size" else render_count
    rates = _render_pair(Pair(rule.read, rule.write), render)
    return f"{rule.device}={rates}"


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
