"""Accounting: what a container uses, read from the kernel's own counters.

Two readers, both cheap and both never raising for a file the kernel does not offer (that
counter is None):

    read_cgroup(cg)                 the cgroup counters of the container's top groups
                                    (memory, swap, pids, CPU, block IO), v1 or v2 file names
    read_processes(pids, init_pid)  what needs the container's processes or its network
                                    namespace: open files, file locks, locked pages, pending
                                    signals, sockets, socket queues, ptys

Every value is a plain int: bytes, counts, microseconds. The cgroup version is told by the
group's hierarchy names (v2 has only "unified"); `version` overrides it.
"""

from __future__ import annotations

import os

from hutch.cgroups.base import Cgroup
from hutch.cgroups.knobs import parse_flat_keyed

# v1 shows "no limit" as the largest page-aligned long (9223372036854771712), v2 as "max"
_V1_UNLIMITED = 1 << 62


class CgroupCounters:
    """A container's cgroup counters. None: the kernel does not offer that counter here."""

    __slots__ = (
        "cpu_throttled",
        "cpu_usec",
        "io_read_bytes",
        "io_read_ops",
        "io_write_bytes",
        "io_write_ops",
        "memory",
        "memory_anon",
        "memory_failcnt",
        "memory_high",
        "memory_kernel",
        "memory_kernel_peak",
        "memory_limit",
        "memory_oom_kill",
        "memory_peak",
        "memory_shmem",
        "memory_slab_reclaimable",
        "memory_sock",
        "pids",
        "pids_failcnt",
        "pids_limit",
        "pids_peak",
        "swap",
        "swap_failcnt",
        "swap_limit",
        "swap_peak",
        "version",
    )

    def __init__(self, version: int) -> None:
        self.version = version
        for name in self.__slots__:
            if name != "version":
                setattr(self, name, None)

    # the attributes, for type checkers (set to None in __init__)
    cpu_usec: int | None  # CPU time used, all CPUs together
    cpu_throttled: int | None  # periods the CPU quota throttled it
    io_read_bytes: int | None
    io_write_bytes: int | None
    io_read_ops: int | None
    io_write_ops: int | None
    memory: int | None  # bytes charged now (RAM, page cache included)
    memory_peak: int | None
    memory_limit: int | None  # None: unlimited (or unknown)
    memory_high: int | None  # the soft limit (v2 memory.high, v1 soft_limit_in_bytes)
    memory_failcnt: int | None  # v1 failcnt; v2 memory.events max + oom
    memory_oom_kill: int | None
    memory_kernel: int | None  # kernel memory (slab, stacks, page tables ...)
    memory_kernel_peak: int | None  # v1 only
    memory_anon: int | None
    memory_shmem: int | None
    memory_sock: int | None  # socket buffers charged to the group
    memory_slab_reclaimable: int | None  # dentries and inodes, mostly
    swap: int | None
    swap_peak: int | None
    swap_limit: int | None
    swap_failcnt: int | None
    pids: int | None  # tasks (threads included): what the pids limit counts
    pids_peak: int | None
    pids_limit: int | None
    pids_failcnt: int | None  # forks refused by the limit

    def to_dict(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in self.__slots__}


class ProcessCounters:
    """Counters that need the container's processes or its network namespace."""

    __slots__ = (
        "dgramrcvbuf",
        "lockedpages",
        "nproc",
        "numfile",
        "numflock",
        "numothersock",
        "numpty",
        "numsiginfo",
        "numtcpsock",
        "othersockbuf",
        "tcprcvbuf",
        "tcpsndbuf",
    )

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, None)

    numfile: int | None  # open file descriptors
    numflock: int | None  # file locks held (POSIX, flock, leases)
    lockedpages: int | None  # mlock()ed pages (VmLck)
    numsiginfo: int | None  # pending signals (approximate: one per pending signal number)
    numtcpsock: int | None  # TCP sockets of the network namespace (v4 and v6)
    numothersock: int | None  # UDP, UDP-Lite, raw sockets and fragment queues
    tcpsndbuf: int | None  # bytes queued for sending on TCP sockets
    tcprcvbuf: int | None  # bytes queued for reading on TCP sockets
    othersockbuf: int | None  # bytes queued for sending on other sockets
    dgramrcvbuf: int | None  # bytes queued for reading on datagram sockets
    numpty: int | None  # pseudo-terminals open in the container's devpts
    nproc: int | None  # processes

    def to_dict(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in self.__slots__}


# -- reading files ---------------------------------------------------------------------------


def _text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:  # gone, never there, or a kernel that refuses to read it: no counter
        return None


def _int(path: str) -> int | None:
    text = _text(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None  # "max"


def _limit_v1(path: str) -> int | None:
    value = _int(path)
    return None if value is None or value >= _V1_UNLIMITED else value


def _keyed(path: str) -> dict[str, int] | None:
    """`key value` lines (memory.stat, cpu.stat, *.events); None if the file is missing."""
    text = _text(path)
    return None if text is None else parse_flat_keyed(text)


def _get(table: dict[str, int] | None, *keys: str) -> int | None:
    """The sum of these keys (None if the table or every key is missing)."""
    if table is None:
        return None
    present = [table[k] for k in keys if k in table]
    return sum(present) if present else None


def _sub(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else max(0, a - b)


# -- cgroup counters -------------------------------------------------------------------------


def cgroup_version(cg: Cgroup) -> int:
    return 2 if all(name == "unified" for name, _ in cg.dirs) else 1


def read_cgroup(cg: Cgroup, version: int | None = None) -> CgroupCounters:
    """Every cgroup counter of the container's top groups."""
    version = version or cgroup_version(cg)
    c = CgroupCounters(version)
    if version == 2:
        _read_v2(str(cg.primary), c)
    else:
        _read_v1(cg, c)
    return c


def read_cpu_usec(cg: Cgroup, version: int | None = None) -> int | None:
    """Only the CPU usage counter (what a CPU% sample needs)."""
    if (version or cgroup_version(cg)) == 2:
        return _get(_keyed(os.path.join(cg.primary, "cpu.stat")), "usage_usec")
    group = cg.dir("cpuacct")
    ns = None if group is None else _int(os.path.join(group, "cpuacct.usage"))
    return None if ns is None else ns // 1000


def _read_v2(g: str, c: CgroupCounters) -> None:
    j = os.path.join
    c.memory = _int(j(g, "memory.current"))
    c.memory_peak = _int(j(g, "memory.peak"))
    c.memory_limit = _int(j(g, "memory.max"))
    c.memory_high = _int(j(g, "memory.high"))
    events = _keyed(j(g, "memory.events"))
    c.memory_failcnt = _get(events, "max", "oom")
    c.memory_oom_kill = _get(events, "oom_kill")
    stat = _keyed(j(g, "memory.stat"))
    c.memory_kernel = _get(stat, "kernel")
    c.memory_anon = _get(stat, "anon")
    c.memory_shmem = _get(stat, "shmem")
    c.memory_sock = _get(stat, "sock")
    c.memory_slab_reclaimable = _get(stat, "slab_reclaimable")
    c.swap = _int(j(g, "memory.swap.current"))
    c.swap_peak = _int(j(g, "memory.swap.peak"))
    c.swap_limit = _int(j(g, "memory.swap.max"))
    c.swap_failcnt = _get(_keyed(j(g, "memory.swap.events")), "max", "fail")

    c.pids = _int(j(g, "pids.current"))
    c.pids_peak = _int(j(g, "pids.peak"))
    c.pids_limit = _int(j(g, "pids.max"))
    # Kernels with pids.events.local count a refused fork hierarchically in pids.events;
    # older ones (6.1) count it only in the forking task's own group (ct or below)
    if os.path.exists(j(g, "pids.events.local")):
        c.pids_failcnt = _get(_keyed(j(g, "pids.events")), "max")
    else:
        c.pids_failcnt = _sum_subtree(str(g), "pids.events", "max")

    cpu = _keyed(j(g, "cpu.stat"))
    c.cpu_usec = _get(cpu, "usage_usec")
    c.cpu_throttled = _get(cpu, "nr_throttled")

    text = _text(j(g, "io.stat"))
    if text is not None:
        sums = {"rbytes": 0, "wbytes": 0, "rios": 0, "wios": 0}
        for line in text.splitlines():
            for field in line.split()[1:]:
                key, _, value = field.partition("=")
                if key in sums:
                    sums[key] += int(value)
        c.io_read_bytes, c.io_write_bytes = sums["rbytes"], sums["wbytes"]
        c.io_read_ops, c.io_write_ops = sums["rios"], sums["wios"]


def _read_v1(cg: Cgroup, c: CgroupCounters) -> None:
    j = os.path.join
    m = cg.dir("memory")
    if m is not None:
        c.memory = _int(j(m, "memory.usage_in_bytes"))
        c.memory_peak = _int(j(m, "memory.max_usage_in_bytes"))
        c.memory_limit = _limit_v1(j(m, "memory.limit_in_bytes"))
        c.memory_high = _limit_v1(j(m, "memory.soft_limit_in_bytes"))
        c.memory_failcnt = _int(j(m, "memory.failcnt"))
        c.memory_oom_kill = _get(_keyed(j(m, "memory.oom_control")), "oom_kill")
        c.memory_kernel = _int(j(m, "memory.kmem.usage_in_bytes"))
        c.memory_kernel_peak = _int(j(m, "memory.kmem.max_usage_in_bytes"))
        # the processes live one level down: the top group's own lines are empty, its
        # total_* lines cover everything below
        stat = _keyed(j(m, "memory.stat"))
        c.memory_anon = _get(stat, "total_rss")
        c.memory_shmem = _get(stat, "total_shmem")
        c.memory_sock = _int(j(m, "memory.kmem.tcp.usage_in_bytes"))
        # memsw counts memory + swap (only with swap accounting)
        memsw = _int(j(m, "memory.memsw.usage_in_bytes"))
        c.swap = _sub(memsw, c.memory)
        memsw_limit = _limit_v1(j(m, "memory.memsw.limit_in_bytes"))
        if memsw_limit is not None and c.memory_limit is not None:
            c.swap_limit = max(0, memsw_limit - c.memory_limit)
        c.swap_failcnt = _int(j(m, "memory.memsw.failcnt"))

    p = cg.dir("pids")
    if p is not None:
        c.pids = _int(j(p, "pids.current"))
        c.pids_peak = _int(j(p, "pids.peak"))
        c.pids_limit = _int(j(p, "pids.max"))
        # v1 counts a refused fork in the group of the process that forked (ct or below)
        c.pids_failcnt = _sum_subtree(str(p), "pids.events", "max")

    a = cg.dir("cpuacct")
    if a is not None:
        ns = _int(j(a, "cpuacct.usage"))
        c.cpu_usec = None if ns is None else ns // 1000
    cpu = cg.dir("cpu")
    if cpu is not None:
        c.cpu_throttled = _get(_keyed(j(cpu, "cpu.stat")), "nr_throttled")

    b = cg.dir("blkio")
    if b is not None:
        # the plain files count only the group's own tasks (none: they are in ct)
        c.io_read_bytes, c.io_write_bytes = _blkio_v1(str(b), "blkio.throttle.io_service_bytes")
        c.io_read_ops, c.io_write_ops = _blkio_v1(str(b), "blkio.throttle.io_serviced")


def _sum_subtree(top: str, knob: str, key: str) -> int | None:
    total = None
    for dirpath, _dirs, files in os.walk(top):
        if knob in files:
            value = _get(_keyed(os.path.join(dirpath, knob)), key)
            if value is not None:
                total = (total or 0) + value
    return total


def _blkio_v1(group: str, knob: str) -> tuple[int | None, int | None]:
    text = _text(os.path.join(group, knob + "_recursive"))
    if text is None:
        text = _text(os.path.join(group, knob))
    if text is None:
        return None, None
    read = write = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            if parts[1] == "Read":
                read += int(parts[2])
            elif parts[1] == "Write":
                write += int(parts[2])
    return read, write


# -- process and network-namespace counters --------------------------------------------------


def read_processes(pids: list[int], init_pid: int | None, page: int = 4096) -> ProcessCounters:
    """Counters summed over the container's processes (host pids) and read from its init's
    view of the network namespace and of its devpts."""
    c = ProcessCounters()
    c.nproc = len(pids)
    files = locked_kb = sig = 0
    seen = False
    for pid in pids:
        try:
            files += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:  # exited meanwhile
            continue
        seen = True
        status = _text(f"/proc/{pid}/status")
        for line in (status or "").splitlines():
            key, _, value = line.partition(":")
            if key == "VmLck":
                locked_kb += int(value.split()[0])
            elif key in ("SigPnd", "ShdPnd"):
                sig += int(value, 16).bit_count()
    if seen or not pids:
        c.numfile, c.lockedpages, c.numsiginfo = files, locked_kb * 1024 // page, sig
    c.numflock = _file_locks(set(pids))
    if init_pid is not None:
        _net_counters(f"/proc/{init_pid}", c)
        try:
            c.numpty = _count_ptys(f"/proc/{init_pid}/root")
        except OSError:
            pass
    return c


def _count_ptys(root: str) -> int:
    """The pty numbers in the container's /dev/pts, resolved inside its root (a link there
    to a host directory must not make hutch list the host's)."""
    from hutch.linux.rootpath import open_in_root, opened_root

    with opened_root(root) as rootfd:
        fd = open_in_root(rootfd, "dev/pts", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return sum(n.isdigit() for n in os.listdir(fd))
    finally:
        os.close(fd)


def _file_locks(pids: set[int]) -> int | None:
    """Locks held by these processes. /proc/locks shows pids as the reader sees them (host
    pids here); `->` lines are waiters, not holders; OFD locks show no pid (-1)."""
    text = _text("/proc/locks")
    if text is None:
        return None
    count = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) > 4 and parts[1] != "->":
            try:
                if int(parts[4]) in pids:
                    count += 1
            except ValueError:
                continue
    return count


def parse_sockstat(text: str) -> dict[str, dict[str, int]]:
    """`TCP: inuse 3 orphan 0 ...` lines as {"TCP": {"inuse": 3, "orphan": 0, ...}}."""
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        proto, _, rest = line.partition(":")
        words = rest.split()
        out[proto] = {k: int(v) for k, v in zip(words[::2], words[1::2], strict=False)}
    return out


_OTHER = ("UDP", "UDPLITE", "RAW", "FRAG")
_LISTEN = "0A"  # TCP_LISTEN in the st column
_DGRAM = ("udp", "udp6", "udplite", "udplite6", "raw", "raw6")


def _net_counters(proc: str, c: ProcessCounters) -> None:
    """Sockets of the network namespace (sockstat is per namespace) and their queues."""
    v4 = _text(proc + "/net/sockstat")
    if v4 is not None:
        stat = parse_sockstat(v4)
        stat6 = parse_sockstat(_text(proc + "/net/sockstat6") or "")
        inuse = {k: v.get("inuse", 0) for k, v in (stat | stat6).items()}
        c.numtcpsock = inuse.get("TCP", 0) + inuse.get("TCP6", 0)
        c.numothersock = sum(inuse.get(p, 0) + inuse.get(p + "6", 0) for p in _OTHER)
    # /proc/net/tcp walks the host's whole connection table (milliseconds even for an empty
    # namespace): read it only when the namespace has TCP sockets at all
    if c.numtcpsock == 0:
        c.tcpsndbuf = c.tcprcvbuf = 0
    elif (tcp := _queues(proc, ("tcp", "tcp6"))) is not None:
        c.tcpsndbuf, c.tcprcvbuf = tcp
    if c.numothersock == 0:
        c.othersockbuf = c.dgramrcvbuf = 0
    elif (other := _queues(proc, _DGRAM)) is not None:
        c.othersockbuf, c.dgramrcvbuf = other


def _queues(proc: str, tables: tuple[str, ...]) -> tuple[int, int] | None:
    """Sum of the tx_queue and rx_queue columns of /proc/net/{tcp,udp,...} (hex)."""
    tx = rx = 0
    found = False
    for table in tables:
        text = _text(f"{proc}/net/{table}")
        if text is None:
            continue
        found = True
        for line in text.splitlines()[1:]:
            parts = line.split()
            # a listening socket's columns are its accept backlog, not bytes
            if len(parts) > 4 and parts[3] != _LISTEN:
                t, _, r = parts[4].partition(":")
                try:
                    tx += int(t, 16)
                    rx += int(r, 16)
                except ValueError:
                    continue
    return (tx, rx) if found else None
