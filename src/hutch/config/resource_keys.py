"""The resource keys of the registry: [resources] (simple limits) and [ubc] (OpenVZ's user
beancounters by name). Which are enforced through a kernel limit and which are accounting
only is documented in docs/resources.md and decided in hutch.container.limits."""

from __future__ import annotations

from collections.abc import Callable

from hutch.config import units
from hutch.config.values import IoRate, Pair

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Parse = Callable[[str], Any]
    Check = Callable[[object], Any]
    Render = Callable[[Any], Any]


def _int_range(lo: int, hi: int | None, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        t = text.strip()
        if not t.lstrip("-").isdigit():
            raise ValueError(f"{text!r} is not a whole number")
        v = int(t)
        if v < lo or (hi is not None and v > hi):
            span = f"{lo} to {hi}" if hi is not None else f"{lo} or more"
            raise ValueError(f"{what} must be {span}, got {v}")
        return v

    return parse


def _int_check(parse: Callable[[str], int]) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {type(value).__name__}")
        return parse(str(value))

    return check


def _str_check(parse: Callable[[str], Any]) -> Callable[[object], Any]:
    def check(value: object) -> Any:
        if not isinstance(value, str):
            # a bare number in TOML is fine for counts and byte sizes
            if isinstance(value, int) and not isinstance(value, bool):
                return parse(str(value))
            raise ValueError(f'expected a string such as "512M", got {type(value).__name__}')
        return parse(value)

    return check


def _list_check(parse: Callable[[str], tuple[Any, ...]]) -> Callable[[object], tuple[Any, ...]]:
    def check(value: object) -> tuple[Any, ...]:
        if isinstance(value, str):
            return parse(value)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ValueError('expected an array of strings such as ["sda=10M:5M"]')
        return parse(",".join(value))

    return check


def _iops(text: str) -> tuple[IoRate, ...]:
    return units.parse_io_rules(text, rate="count")


# Renderers: a typed value -> its TOML value. Text given where a typed value is due (the
# library edge takes both) passes through, for the check to read.


def _same(value: Any) -> Any:
    return value


def _text(render: Callable[[Any], str], typed: type) -> Callable[[Any], Any]:
    def text(value: Any) -> Any:
        return render(value) if isinstance(value, typed) and not isinstance(value, bool) else value

    return text


def _rules_text(rate: str) -> Callable[[Any], list[Any]]:
    def text(rules: Any) -> list[Any]:
        return [units.render_io_rule(r, rate) if isinstance(r, IoRate) else r for r in rules]

    return text


render_size_pair = _text(units.render_size_pair, Pair)
render_count_pair = _text(units.render_count_pair, Pair)

# (name, flag, kind, parse, check, render, help) — defaults are None: unset means unlimited
RESOURCES: tuple[tuple[str, str, str, Parse, Check, Render, str], ...] = (
    (
        "resources.memory",
        "memory",
        "size-pair",
        units.size_pair,
        _str_check(units.size_pair),
        render_size_pair,
        "RAM limit, e.g. --memory 512M, or --memory 256M:512M (soft:hard, as barrier:limit)",
    ),
    (
        "resources.swap",
        "swap",
        "size",
        units.parse_size,
        _str_check(units.parse_size),
        _text(units.render_size, int),
        "swap the container may use on top of its RAM, e.g. --swap 1G (0: none)",
    ),
    (
        "resources.cpuunits",
        "cpuunits",
        "int",
        _int_range(8, 500000, "cpuunits"),
        _int_check(_int_range(8, 500000, "cpuunits")),
        _same,
        "relative CPU weight as in OpenVZ, e.g. --cpuunits 3000 (default 1000)",
    ),
    (
        "resources.cpulimit",
        "cpulimit",
        "int",
        _int_range(0, None, "cpulimit"),
        _int_check(_int_range(0, None, "cpulimit")),
        _same,
        "CPU cap in percent of one CPU, e.g. --cpulimit 150 (1.5 CPUs; 0: no cap)",
    ),
    (
        "resources.cpus",
        "cpus",
        "int",
        _int_range(1, 4096, "cpus"),
        _int_check(_int_range(1, 4096, "cpus")),
        _same,
        "number of CPUs the container may use at once, e.g. --cpus 2",
    ),
    (
        "resources.cpuset",
        "cpuset",
        "cpulist",
        units.parse_cpulist,
        _str_check(units.parse_cpulist),
        _same,
        "pin to these CPUs, e.g. --cpuset 0-1,3",
    ),
    (
        "resources.numproc",
        "numproc",
        "count-pair",
        units.count_pair,
        _str_check(units.count_pair),
        render_count_pair,
        "maximum number of tasks (OpenVZ NUMPROC), e.g. --numproc 300 or 300:300",
    ),
    (
        "resources.ioprio",
        "ioprio",
        "int",
        _int_range(0, 7, "ioprio"),
        _int_check(_int_range(0, 7, "ioprio")),
        _same,
        "block IO priority 0-7 as in OpenVZ, e.g. --ioprio 6 (default 4; mapped to the IO weight)",
    ),
    (
        "resources.iolimit",
        "iolimit",
        "io-rules",
        units.parse_io_rules,
        _list_check(units.parse_io_rules),
        _rules_text("size"),
        "bytes/s per device, e.g. --iolimit sda=10M:5M (read:write), comma-separated",
    ),
    (
        "resources.iopslimit",
        "iopslimit",
        "io-rules",
        _iops,
        _list_check(_iops),
        _rules_text("count"),
        "operations/s per device, e.g. --iopslimit sda=500:200 (read:write)",
    ),
)

# OpenVZ user beancounters, by the name vzctl uses: (name, unit, help)
UBC: tuple[tuple[str, str, str], ...] = (
    ("physpages", "pages", "RAM in pages; limit enforced as the memory limit"),
    ("swappages", "pages", "swap in pages; limit enforced as the swap limit"),
    ("privvmpages", "pages", "private memory in pages (accounting only)"),
    ("kmemsize", "bytes", "kernel memory (accounting only)"),
    ("lockedpages", "pages", "mlock()ed pages (accounting only)"),
    ("shmpages", "pages", "shared memory pages (accounting only)"),
    ("vmguarpages", "pages", "memory guarantee (barrier shown, accounting only)"),
    ("oomguarpages", "pages", "OOM guarantee (accounting only)"),
    ("numfile", "count", "open files (accounting only)"),
    ("numflock", "count", "file locks (accounting only)"),
    ("numpty", "count", "pseudo-terminals (accounting only)"),
    ("numsiginfo", "count", "pending signals (accounting only)"),
    ("numtcpsock", "count", "TCP sockets (accounting only)"),
    ("numothersock", "count", "other sockets (accounting only)"),
    ("tcpsndbuf", "bytes", "TCP send buffers (accounting only)"),
    ("tcprcvbuf", "bytes", "TCP receive buffers (accounting only)"),
    ("othersockbuf", "bytes", "other socket buffers (accounting only)"),
    ("dgramrcvbuf", "bytes", "datagram receive buffers (accounting only)"),
    ("dcachesize", "bytes", "dentry and inode caches (accounting only)"),
    ("numiptent", "count", "firewall rules (accounting only)"),
    ("avnumproc", "count", "expected average number of tasks (accounting only)"),
)


def ubc_parser(unit: str) -> Callable[[str], Pair]:
    return units.size_pair if unit == "bytes" else units.count_pair


def ubc_renderer(unit: str) -> Callable[[Any], str]:
    return render_size_pair if unit == "bytes" else render_count_pair
