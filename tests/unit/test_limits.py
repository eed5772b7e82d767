"""hutch.container.limits: from a container's config to the one small limits model, and the
units and CPU conversions it rests on. Pure: no root, no cgroup files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hutch.cgroups import cpu
from hutch.cgroups.cpuset import cpulist_cpus
from hutch.cgroups.limits import DEFAULT_CPUUNITS, IO_WEIGHT, IoRule, Limits
from hutch.config import KEY_BY_FLAG, ContainerConfig, units
from hutch.container.limits import from_config
from hutch.errors import UsageError

PAGE = units.PAGE
K, M, G = 1 << 10, 1 << 20, 1 << 30


def config(**flags: str) -> ContainerConfig:
    """A config as `hutch set 101 --FLAG VALUE ...` would make it (through the CLI parsers)."""
    values = {}
    for flag, text in flags.items():
        key = KEY_BY_FLAG[flag]
        values[key.name] = key.from_cli(text)
    return ContainerConfig.from_settings("101", values)


def limits(**flags: str) -> Limits:
    return from_config(config(**flags))


def a_block_device() -> tuple[str, str]:
    """(name, MAJOR:MINOR) of a block device this host has (skips when it has none)."""
    base = Path("/sys/class/block")
    for name in sorted(os.listdir(base)) if base.is_dir() else []:
        dev = base / name / "dev"
        if dev.is_file():
            return name, dev.read_text().strip()
    pytest.skip("no block device in /sys/class/block")


# -- nothing set -------------------------------------------------------------------------


def test_an_empty_config_limits_nothing():
    assert limits() == Limits()
    assert Limits().cpuunits == DEFAULT_CPUUNITS == 1000


# -- memory ------------------------------------------------------------------------------


def test_memory_limit_alone_is_the_hard_limit():
    lim = limits(memory="512M")
    assert (lim.memory_max, lim.memory_high) == (512 * M, None)


def test_memory_barrier_limit_is_high_and_max():
    lim = limits(memory="256M:512M")
    assert (lim.memory_max, lim.memory_high) == (512 * M, 256 * M)


def test_memory_barrier_equal_to_limit_sets_no_soft_limit():
    assert limits(memory="1G:1G").memory_high is None


def test_memory_unlimited():
    lim = limits(memory="unlimited")
    assert (lim.memory_max, lim.memory_high) == (None, None)


def test_physpages_are_pages_times_the_page_size():
    lim = limits(physpages="1000:2000")
    assert (lim.memory_max, lim.memory_high) == (2000 * PAGE, 1000 * PAGE)


def test_physpages_unlimited_as_openvz_writes_it():
    lim = limits(physpages="9223372036854775807:9223372036854775807")
    assert (lim.memory_max, lim.memory_high) == (None, None)


def test_physpages_and_memory_take_the_smaller():
    # physpages below --memory: physpages wins (limit and barrier)
    lim = limits(memory="1G", physpages="100:200")
    assert (lim.memory_max, lim.memory_high) == (200 * PAGE, 100 * PAGE)
    # --memory below physpages: --memory wins, and its barrier equals its limit (no high)
    lim = limits(memory="64K", physpages="100000:200000")
    assert (lim.memory_max, lim.memory_high) == (64 * K, None)
    # each pair contributes its own smaller side
    lim = limits(memory="1M:1G", physpages="unlimited:100000")
    assert (lim.memory_max, lim.memory_high) == (100000 * PAGE, M)
    # a barrier above the resulting limit is no soft limit
    lim = limits(memory="128M:1G", physpages="unlimited:1000")
    assert (lim.memory_max, lim.memory_high) == (1000 * PAGE, None)


def test_swap_in_bytes():
    assert limits(swap="1G").swap_max == G
    assert limits(swap="0").swap_max == 0
    assert limits(swap="unlimited").swap_max is None


def test_swappages_limit_in_pages_and_the_min_with_swap():
    assert limits(swappages="0:1000").swap_max == 1000 * PAGE
    assert limits(swappages="0:1000", swap="1M").swap_max == min(M, 1000 * PAGE)
    assert limits(swappages="0:100000", swap="1M").swap_max == M
    assert limits(swappages="unlimited").swap_max is None


def test_accounting_only_ubcs_limit_nothing():
    assert limits(privvmpages="1000:2000", numfile="100", kmemsize="10M:11M") == Limits()


# -- CPU ---------------------------------------------------------------------------------


def test_cpuunits_pass_through_with_the_openvz_default():
    assert limits(cpuunits="3000").cpuunits == 3000
    assert limits().cpuunits == 1000


def test_cpulimit_is_the_quota_and_0_means_no_cap():
    assert limits(cpulimit="50").cpu_quota_pct == 50
    assert limits(cpulimit="150").cpu_quota_pct == 150
    assert limits(cpulimit="0").cpu_quota_pct is None


@pytest.mark.parametrize(
    ("cpulimit", "cpus", "quota"),
    [(None, "2", 200), ("150", "1", 100), ("50", "2", 50), ("0", "2", 200), ("300", "2", 200)],
)
def test_cpus_caps_the_quota_at_min_of_cpulimit_and_100_per_cpu(cpulimit, cpus, quota):
    flags = {"cpus": cpus} | ({"cpulimit": cpulimit} if cpulimit is not None else {})
    assert limits(**flags).cpu_quota_pct == quota


def test_cpuset_is_kept_as_a_cpu_list():
    assert limits(cpuset="0-1, 3").cpuset == "0-1,3"
    assert limits().cpuset is None


@pytest.mark.parametrize(
    ("cpuunits", "shares", "weight"),
    [(1000, 1024, 100), (3000, 3072, 300), (500, 512, 50), (8, 8, 1), (500000, 512000, 10000)],
)
def test_cpuunits_to_shares_and_weight(cpuunits, shares, weight):
    assert cpu.shares_v1(cpuunits) == shares
    assert cpu.weight_v2(cpuunits) == weight


def test_shares_and_weight_stay_in_the_kernel_range():
    assert cpu.shares_v1(1) == 2  # the kernel's minimum cpu.shares
    assert cpu.weight_v2(1) == 1
    assert cpu.weight_v2(10**9) == 10000
    # the ratio of two containers' weights is the ratio of their cpuunits
    assert cpu.shares_v1(3000) / cpu.shares_v1(1000) == 3
    assert cpu.weight_v2(3000) / cpu.weight_v2(1000) == 3


def test_quota_in_microseconds_per_period():
    assert cpu._quota_us(Limits(cpu_quota_pct=50)) == cpu.PERIOD_US // 2
    assert cpu._quota_us(Limits(cpu_quota_pct=250)) == 5 * cpu.PERIOD_US // 2
    assert cpu._quota_us(Limits()) is None


# -- tasks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numproc", "pids"), [("300", 300), ("100:200", 200), ("unlimited", None), ("0", 0)]
)
def test_numproc_limit_is_the_pids_limit(numproc, pids):
    assert limits(numproc=numproc).pids_max == pids


# -- IO ----------------------------------------------------------------------------------


def test_ioprio_table_is_monotonic_with_openvz_default_4_at_the_kernel_default():
    assert len(IO_WEIGHT) == 8
    assert list(IO_WEIGHT) == sorted(set(IO_WEIGHT))
    assert IO_WEIGHT[4] == 100  # io.weight's default
    assert all(1 <= w <= 10000 for w in IO_WEIGHT)  # io.weight's range
    assert all(10 <= min(1000, w * 5) <= 1000 for w in IO_WEIGHT)  # blkio.weight's range


@pytest.mark.parametrize("prio", range(8))
def test_ioprio_maps_through_the_table(prio):
    assert limits(ioprio=str(prio)).io_weight == IO_WEIGHT[prio]


def test_no_ioprio_leaves_the_weight_alone():
    assert limits().io_weight is None


def test_iolimit_and_iopslimit_merge_per_device_by_name():
    name, number = a_block_device()
    lim = limits(iolimit=f"{name}=10M:5M", iopslimit=f"{name}=500:200")
    assert lim.io == (IoRule(number, rbps=10 * M, wbps=5 * M, riops=500, wiops=200),)


def test_iolimit_by_dev_path_is_the_same_device():
    name, number = a_block_device()
    if not Path(f"/dev/{name}").exists():
        pytest.skip(f"/dev/{name} is absent")
    assert limits(iolimit=f"/dev/{name}=1M").io == (IoRule(number, rbps=M, wbps=M),)


def test_io_rules_by_major_minor_one_per_device_sorted():
    lim = limits(iolimit="8:16=1M:unlimited,7:0=2M", iopslimit="8:16=100")
    assert lim.io == (
        IoRule("7:0", rbps=2 * M, wbps=2 * M),
        IoRule("8:16", rbps=M, wbps=None, riops=100, wiops=100),
    )


def test_io_rule_for_a_device_the_host_lacks_is_refused():
    with pytest.raises(ValueError, match="no block device 'nosuch'"):
        limits(iolimit="nosuch=1M")
    with pytest.raises(ValueError, match="no block device"):
        limits(iopslimit="/dev/nosuch-hutch=10")


@pytest.mark.parametrize("text", ["sda", "=1M", "sda=lots", "sda=1M:2M:3M", "bad dev=1M"])
def test_bad_io_rules_are_usage_errors(text):
    with pytest.raises(UsageError, match=r"^--iolimit: "):
        config(iolimit=text)


def test_bad_iops_is_a_usage_error():
    with pytest.raises(UsageError, match=r"^--iopslimit: "):
        config(iopslimit="sda=1.5")


# -- units -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512M", 512 * M),
        ("2G", 2 * G),
        ("1.5G", 3 * G // 2),
        ("0.5K", 512),
        ("1048576", M),
        ("64KiB", 64 * K),
        ("64kb", 64 * K),
        ("512m", 512 * M),
        ("1T", 1 << 40),
        (" 8M ", 8 * M),
        ("0", 0),
        ("unlimited", None),
        ("max", None),
        ("-1", None),
        ("9223372036854775807", None),  # OpenVZ's LONG_MAX
    ],
)
def test_size_bytes(text, size):
    assert units.size_bytes(text) == size


@pytest.mark.parametrize("text", ["lots", "", "-5", "1.5", "1.1M", "12Q", "M", "1G2", "1 2M"])
def test_size_bytes_refuses_bad_input(text):
    with pytest.raises(ValueError):
        units.size_bytes(text)


def test_size_pairs():
    assert units.size_pair_bytes("256M:512M") == (256 * M, 512 * M)
    assert units.size_pair_bytes("1G") == (G, G)
    assert units.size_pair_bytes("1G:unlimited") == (G, None)
    with pytest.raises(ValueError, match="barrier is above the limit"):
        units.parse_size_pair("512M:256M")
    with pytest.raises(ValueError, match="BARRIER:LIMIT"):
        units.parse_size_pair("1M:2M:3M")


def test_count_pairs():
    assert units.count_pair_values("100:200") == (100, 200)
    long_max = "9223372036854775807"  # OpenVZ's "unlimited"
    assert units.count_pair_values(f"{long_max}:{long_max}") == (None, None)
    assert units.count_pair_values("unlimited") == (None, None)
    for bad in ("1.5", "lots", "1e3", "-2"):
        with pytest.raises(ValueError):
            units.parse_count_pair(bad)
    with pytest.raises(ValueError, match="barrier is above the limit"):
        units.parse_count_pair("200:100")


@pytest.mark.parametrize(
    ("text", "cpus"), [("0", [0]), ("0-1,3", [0, 1, 3]), ("2-4", [2, 3, 4]), ("1,1", [1, 1])]
)
def test_cpu_lists(text, cpus):
    assert cpulist_cpus(units.parse_cpulist(text)) == cpus


@pytest.mark.parametrize("text", ["", "a", "1-", "-1", "3-1", "0,,1", "0-1-2"])
def test_bad_cpu_lists(text):
    with pytest.raises(ValueError):
        units.parse_cpulist(text)


@pytest.mark.parametrize(
    ("flag", "text", "says"),
    [
        ("memory", "lots", "--memory: 'lots' is not a size"),
        ("memory", "512M:256M", "--memory: '512M:256M': the barrier is above the limit"),
        ("swap", "1.5", "--swap: '1.5' is not a whole number of bytes"),
        ("numproc", "many", "--numproc: 'many' is not a whole number"),
        ("cpulimit", "-1", "--cpulimit: cpulimit must be 0 or more"),
        ("cpuunits", "1", "--cpuunits: cpuunits must be 8 to 500000"),
        ("cpus", "0", "--cpus: cpus must be 1 to 4096"),
        ("ioprio", "8", "--ioprio: ioprio must be 0 to 7"),
        ("cpuset", "1-0", "--cpuset: '1-0': range 1-0 runs backwards"),
        ("physpages", "x:y", "--physpages: 'x' is not a whole number"),
    ],
)
def test_bad_flags_name_the_flag(flag, text, says):
    with pytest.raises(UsageError) as e:
        config(**{flag: text})
    assert str(e.value).startswith(says), str(e.value)
