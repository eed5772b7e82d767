"""Beancounters and accounting without root: the mapping, units, LONG_MAX, the layout, and
the counter readers on fake cgroup directories (v1 and v2 file names)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hutch.cgroups import accounting
from hutch.cgroups.accounting import CgroupCounters, ProcessCounters
from hutch.cgroups.base import Cgroup
from hutch.cli.stats import human_size
from hutch.config import ContainerConfig
from hutch.config.resource_keys import UBC
from hutch.container import beancounters as bc
from hutch.container.state import RunState
from hutch.paths import Paths

PAGE = 4096
DOCS = Path(__file__).parents[2] / "docs" / "resources.md"


def counters(**values: int | None) -> CgroupCounters:
    c = CgroupCounters(2)
    for k, v in values.items():
        setattr(c, k, v)
    return c


def procs(**values: int | None) -> ProcessCounters:
    p = ProcessCounters()
    for k, v in values.items():
        setattr(p, k, v)
    return p


def rows_by_name(rows: list[bc.Beancounter]) -> dict[str, bc.Beancounter]:
    return {r.resource: r for r in rows}


# -- the mapping -----------------------------------------------------------------------------


def test_every_ubc_and_numproc_has_a_row_in_openvz_order():
    assert set(bc.ORDER) == {name for name, _, _ in UBC} | {"numproc"}
    assert len(bc.ORDER) == len(set(bc.ORDER))
    assert bc.ORDER[:4] == ("kmemsize", "lockedpages", "privvmpages", "shmpages")
    rows = bc.compute(None, counters(), procs(), {})
    assert [r.resource for r in rows] == list(bc.ORDER)


def test_units_follow_openvz_names():
    for name in bc.ORDER:
        unit = bc.UNIT[name]
        if name.endswith("pages"):
            assert unit == "pages", name
        elif name.endswith(("size", "buf")):
            assert unit == "bytes", name
        else:
            assert unit == "count", name


def test_unset_is_long_max_and_unmeasured_is_none():
    rows = rows_by_name(bc.compute(None, counters(), procs(), {}))
    assert bc.LONG_MAX == 2**63 - 1
    for r in rows.values():
        assert r.barrier == r.limit == bc.LONG_MAX
        assert r.failcnt == 0
    assert rows["numiptent"].held is None and rows["numiptent"].maxheld is None
    assert rows["vmguarpages"].held == 0


def test_enforced_resources_show_the_kernel_limits_in_pages():
    cfg = ContainerConfig.from_settings(
        "1", {"resources.numproc": "30:40", "resources.memory": "64M"}
    )
    c = counters(
        pids=5,
        pids_peak=41,
        pids_limit=40,
        pids_failcnt=7,
        memory=10 * PAGE + 100,
        memory_peak=20 * PAGE,
        memory_limit=64 << 20,
        memory_failcnt=3,
        swap=PAGE,
        swap_limit=None,
    )
    rows = rows_by_name(bc.compute(cfg, c, procs(), {}, page=PAGE))
    n = rows["numproc"]
    assert (n.held, n.maxheld, n.barrier, n.limit, n.failcnt) == (5, 41, 30, 40, 7)
    p = rows["physpages"]
    assert (p.held, p.maxheld, p.barrier, p.limit, p.failcnt) == (10, 20, 16384, 16384, 3)
    s = rows["swappages"]
    assert (s.held, s.barrier, s.limit) == (1, bc.LONG_MAX, bc.LONG_MAX)
    assert rows["oomguarpages"].held == 11  # RAM + swap


def test_physpages_barrier_is_the_kernel_soft_limit():
    c = counters(memory=0, memory_limit=100 * PAGE, memory_high=80 * PAGE)
    p = rows_by_name(bc.compute(None, c, procs(), {}, page=PAGE))["physpages"]
    assert (p.barrier, p.limit) == (80, 100)


def test_the_kernel_limit_wins_over_the_config_for_enforced_ones():
    # changed live without --save: the kernel's limit is what holds
    cfg = ContainerConfig.from_settings("1", {"resources.numproc": "100"})
    n = rows_by_name(bc.compute(cfg, counters(pids=1, pids_limit=50), procs(), {}))["numproc"]
    assert (n.barrier, n.limit) == (50, 50)


def test_accounting_only_resources_take_barrier_and_limit_from_the_config():
    cfg = ContainerConfig.from_settings(
        "1",
        {
            "ubc.kmemsize": "27525120:29360120",
            "ubc.lockedpages": "32:32",
            "ubc.numfile": "2048",
            "ubc.tcpsndbuf": "1M:2M",
        },
    )
    rows = rows_by_name(bc.compute(cfg, counters(memory_kernel=1214027), procs(numfile=9), {}))
    k = rows["kmemsize"]
    assert (k.held, k.barrier, k.limit, k.failcnt) == (1214027, 27525120, 29360120, 0)
    assert (rows["lockedpages"].barrier, rows["lockedpages"].limit) == (32, 32)
    assert (rows["numfile"].held, rows["numfile"].barrier, rows["numfile"].limit) == (9, 2048, 2048)
    assert (rows["tcpsndbuf"].barrier, rows["tcpsndbuf"].limit) == (1 << 20, 2 << 20)


def test_maxheld_is_the_kernel_peak_or_kept_by_hutch():
    kept: dict[str, int] = {"numfile": 50}
    rows = rows_by_name(
        bc.compute(None, counters(memory_kernel=10, memory_kernel_peak=99), procs(numfile=7), kept)
    )
    assert rows["kmemsize"].maxheld == 99
    assert rows["numfile"].maxheld == 50  # kept from an earlier read
    assert "kmemsize" not in kept  # the kernel keeps that one
    rows = rows_by_name(bc.compute(None, counters(), procs(numfile=80), kept))
    assert rows["numfile"].maxheld == 80 and kept["numfile"] == 80


def test_maxheld_file_belongs_to_one_run_of_the_container(tmp_path):
    paths = Paths(tmp_path)
    path = bc.maxheld_path(paths, "101")
    assert path == tmp_path / "run/hutch/containers/101.maxheld.json"
    path.parent.mkdir(parents=True)
    st = RunState("101", pid=1234, starttime=55, started_at=0.0)
    bc._save_kept(path, st, {"numfile": 12})
    assert bc._load_kept(path, st) == {"numfile": 12}
    restarted = RunState("101", pid=1234, starttime=99, started_at=0.0)
    assert bc._load_kept(path, restarted) == {}
    path.write_text("{torn")
    assert bc._load_kept(path, st) == {}
    bc.remove_maxheld(paths, "101")
    bc.remove_maxheld(paths, "101")  # already gone is fine
    assert not path.exists()


# -- the layout ------------------------------------------------------------------------------


def test_format_matches_proc_user_beancounters():
    rows = [
        bc.Beancounter("kmemsize", 1214027, 1713049, 27525120, 29360120, 0),
        bc.Beancounter("numproc", 27, 37, 300, 300, 2),
        bc.Beancounter("numiptent", None, None),
    ]
    text = bc.format_table([("508", rows), ("web-1", rows[:1])])
    lines = text.splitlines()
    assert lines[0] == "Version: 2.5"
    assert lines[1] == (
        "       uid  resource    "
        + "".join(f" {h:>20}" for h in ("held", "maxheld", "barrier", "limit", "failcnt"))
    )
    assert lines[2] == (
        "       508: kmemsize    "
        + "".join(f" {v:>20}" for v in (1214027, 1713049, 27525120, 29360120, 0))
    )
    assert lines[3].startswith("            numproc      ")
    assert lines[3].split() == ["numproc", "27", "37", "300", "300", "2"]
    assert lines[4].split() == ["numiptent", "0", "0", str(bc.LONG_MAX), str(bc.LONG_MAX), "0"]
    assert lines[5].startswith("     web-1: kmemsize")
    # every number right-aligned on the same column ends
    ends = {len(line) for line in lines[1:]}
    assert len(ends) == 1
    assert text.endswith("\n")


def test_json_keeps_unmeasured_as_null():
    data = bc.to_json([("1", [bc.Beancounter("numiptent", None, None)])])
    assert data == {
        "1": {
            "numiptent": {
                "held": None,
                "maxheld": None,
                "barrier": bc.LONG_MAX,
                "limit": bc.LONG_MAX,
                "failcnt": 0,
            }
        }
    }
    json.dumps(data)


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0B"), (1023, "1023B"), (1536, "1.5K"), (12_900_000, "12.3M"), (64 << 20, "64.0M")],
)
def test_human_size(n, text):
    assert human_size(n) == text


def test_docs_name_every_resource_and_key():
    text = DOCS.read_text()
    for name in bc.ORDER:
        assert f"`{name}`" in text, name
    for key in ("memory", "swap", "cpuunits", "cpulimit", "cpus", "cpuset", "ioprio", "iolimit"):
        assert f"`{key}`" in text, key


# -- the readers on fake cgroup files --------------------------------------------------------


def write(d: Path, files: dict[str, str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name).write_text(text)


def test_read_cgroup_v2(tmp_path):
    g = tmp_path / "unified/hutch/1"
    write(
        g,
        {
            "memory.current": "1048576\n",
            "memory.peak": "2097152\n",
            "memory.max": "max\n",
            "memory.high": "max\n",
            "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n",
            "memory.stat": "anon 8192\nfile 4096\nkernel 12288\nshmem 4096\nsock 0\n"
            "slab_reclaimable 2048\n",
            "memory.swap.current": "0\n",
            "memory.swap.max": "1073741824\n",
            "memory.swap.events": "high 0\nmax 0\nfail 0\n",
            "pids.current": "3\n",
            "pids.peak": "40\n",
            "pids.max": "40\n",
            "pids.events": "max 12\n",
            "cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n"
            "nr_periods 10\nnr_throttled 2\nthrottled_usec 300\n",
            "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
            "8:16 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n",
        },
    )
    cg = Cgroup((("unified", str(g)),))
    assert accounting.cgroup_version(cg) == 2
    c = accounting.read_cgroup(cg)
    assert (c.memory, c.memory_peak, c.memory_limit, c.memory_high) == (
        1 << 20,
        2 << 20,
        None,
        None,
    )
    assert (c.memory_failcnt, c.memory_oom_kill) == (5, 1)
    assert (c.memory_kernel, c.memory_anon, c.memory_shmem, c.memory_sock) == (12288, 8192, 4096, 0)
    assert c.memory_slab_reclaimable == 2048
    assert (c.swap, c.swap_peak, c.swap_limit, c.swap_failcnt) == (0, None, 1 << 30, 0)
    assert (c.pids, c.pids_peak, c.pids_limit, c.pids_failcnt) == (3, 40, 40, 12)
    assert (c.cpu_usec, c.cpu_throttled) == (1500000, 2)
    assert (c.io_read_bytes, c.io_write_bytes, c.io_read_ops, c.io_write_ops) == (4097, 8194, 4, 6)
    assert accounting.read_cpu_usec(cg) == 1500000


def test_read_cgroup_v1_reads_below_the_top_group(tmp_path):
    def hier(name: str) -> Path:
        return tmp_path / name / "hutch/1"

    write(
        hier("memory"),
        {
            "memory.usage_in_bytes": "901120\n",
            "memory.max_usage_in_bytes": "1212416\n",
            "memory.limit_in_bytes": "67108864\n",
            "memory.soft_limit_in_bytes": "9223372036854771712\n",
            "memory.failcnt": "2\n",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
            "memory.kmem.usage_in_bytes": "229376\n",
            "memory.kmem.max_usage_in_bytes": "300000\n",
            "memory.memsw.usage_in_bytes": "905216\n",
            "memory.memsw.limit_in_bytes": "9223372036854771712\n",
            "memory.memsw.failcnt": "0\n",
            "memory.stat": "rss 0\nshmem 0\ntotal_rss 155648\ntotal_shmem 4096\n",
        },
    )
    write(
        hier("pids"),
        {"pids.current": "3\n", "pids.peak": "50\n", "pids.max": "50\n", "pids.events": "max 0\n"},
    )
    write(hier("pids") / "ct", {"pids.events": "max 5\n", "pids.max": "max\n"})
    write(hier("pids") / "ct/sub", {"pids.events": "max 1\n"})
    write(hier("cpuacct"), {"cpuacct.usage": "5618039000\n"})
    write(hier("cpu"), {"cpu.stat": "nr_periods 0\nnr_throttled 3\nthrottled_time 0\n"})
    write(
        hier("blkio"),
        {
            "blkio.throttle.io_service_bytes": "8:0 Read 0\n8:0 Write 0\nTotal 0\n",
            "blkio.throttle.io_service_bytes_recursive": "254:0 Read 4096\n254:0 Write 5251072\n"
            "254:0 Sync 10498048\n254:0 Async 0\n254:0 Discard 5242880\n254:0 Total 10498048\n"
            "Total 10498048\n",
            "blkio.throttle.io_serviced_recursive": "254:0 Read 1\n254:0 Write 13\nTotal 16\n",
        },
    )
    cg = Cgroup(
        (
            *((n, str(hier(n))) for n in ("pids", "memory", "cpu", "cpuacct", "blkio")),
            ("unified", str(tmp_path / "unified/hutch/1")),
        )
    )
    assert accounting.cgroup_version(cg) == 1
    c = accounting.read_cgroup(cg)
    assert (c.memory, c.memory_peak, c.memory_limit, c.memory_high) == (
        901120,
        1212416,
        64 << 20,
        None,
    )
    assert (c.memory_failcnt, c.memory_oom_kill) == (2, 1)
    assert (c.memory_kernel, c.memory_kernel_peak) == (229376, 300000)
    assert (c.memory_anon, c.memory_shmem) == (155648, 4096)
    assert (c.swap, c.swap_limit, c.swap_failcnt) == (4096, None, 0)
    assert (c.pids, c.pids_peak, c.pids_limit) == (3, 50, 50)
    assert c.pids_failcnt == 6  # counted where the forking task lived
    assert (c.cpu_usec, c.cpu_throttled) == (5618039, 3)
    assert (c.io_read_bytes, c.io_write_bytes, c.io_read_ops, c.io_write_ops) == (
        4096,
        5251072,
        1,
        13,
    )
    assert c.memory_slab_reclaimable is None


def test_missing_files_are_none_never_errors(tmp_path):
    for cg in (
        Cgroup((("unified", str(tmp_path / "gone")),)),
        Cgroup((("pids", str(tmp_path / "p")), ("memory", str(tmp_path / "m")))),
    ):
        c = accounting.read_cgroup(cg)
        assert all(v is None for k, v in c.to_dict().items() if k != "version")
    p = accounting.read_processes([999_999_999], None)
    assert p.nproc == 1 and p.numfile is None and p.numtcpsock is None and p.numpty is None


def test_sockstat_parsing():
    text = (
        "sockets: used 5\nTCP: inuse 2 orphan 0 tw 1 alloc 3 mem 1\nUDP: inuse 1 mem 0\n"
        "UDPLITE: inuse 0\nRAW: inuse 1\nFRAG: inuse 0 memory 0\n"
    )
    stat = accounting.parse_sockstat(text)
    assert stat["TCP"] == {"inuse": 2, "orphan": 0, "tw": 1, "alloc": 3, "mem": 1}
    assert stat["RAW"]["inuse"] == 1 and stat["sockets"]["used"] == 5
