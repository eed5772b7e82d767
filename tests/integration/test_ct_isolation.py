"""What a running container is made of, from the kernel outside and the probe inside:
namespaces, init's environment, network devices, mounts, /dev."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root

NAMESPACES = ("mnt", "pid", "uts", "ipc", "net", "cgroup")
DEV_NODES = {
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}
DEV_LINKS = {
    "ptmx": "pts/ptmx",
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}


@pytest.fixture(scope="module")
def ct(hutch_root) -> str:
    return hutch_root.running(hostname="iso.example")


@pytest.fixture(scope="module")
def probe(hutch_root, ct) -> dict[str, list[str]]:
    return hutch_root.probe(ct)


def _mountinfo(lines: list[str]) -> dict[str, dict]:
    """mount point -> {fstype, opts, super, dev}; the last mount on a point wins (on top)."""
    mounts = {}
    for line in lines:
        left, _, right = line.partition(" - ")
        f = left.split()
        fstype, _source, sup = right.split()[:3]
        mounts[f[4]] = {
            "dev": f[2],
            "opts": set(f[5].split(",")),
            "fstype": fstype,
            "super": set(sup.split(",")),
        }
    return mounts


@pytest.mark.parametrize("ns", NAMESPACES)
def test_init_has_its_own_namespace(hutch, ct, ns):
    pid = hutch.init_pid(ct)
    assert pid is not None
    assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")


def test_exec_shares_the_init_namespaces(hutch, ct):
    # a process started by exec sees the init's namespaces: same uts (hostname), same pid ns
    assert (
        hutch.ok("exec", ct, "readlink", "/proc/1/ns/uts").stdout
        == hutch.ok("exec", ct, "readlink", "/proc/self/ns/uts").stdout
    )


def test_init_is_pid_1_with_the_container_environment(probe):
    assert probe["pid1_comm"] == ["init"]
    env = dict(line.partition("=")[::2] for line in probe["pid1_environ"] if line)
    assert env["container"] == "hutch"
    assert "PYTEST_CURRENT_TEST" not in env


def test_hostname_from_inside(probe):
    assert probe["hostname"] == ["iso.example"]
    assert probe["proc_hostname"] == ["iso.example"]


def test_no_host_process_visible(probe):
    procs = dict(line.split(" ", 1) for line in probe["procs"])
    assert "1" in procs
    assert not any("pytest" in cmd or "hutch.daemon" in cmd for cmd in procs.values()), procs
    assert len(procs) < 20, procs  # the host runs hundreds


def test_only_loopback_and_it_is_up(probe):
    assert probe["netdevs"] == ["lo"]
    assert int(probe["lo_flags"][0], 16) & 0x1, probe["lo_flags"]  # IFF_UP


def test_dev_holds_exactly_the_container_devices(probe):
    entries = dict(line.split(" ", 1) for line in probe["dev"])
    # busybox syslogd (started by the template's inittab) makes its socket /dev/log
    if entries.get("log") == "socket":
        del entries["log"]
    expected = set(DEV_NODES) | set(DEV_LINKS) | {"console", "pts", "shm", "mqueue"}
    assert set(entries) == expected
    for name, (major, minor) in DEV_NODES.items():
        assert entries[name] == f"char {major:x}:{minor:x}", name
    for name, target in DEV_LINKS.items():
        assert entries[name] == f"link {target}", name
    for d in ("pts", "shm", "mqueue"):
        assert entries[d] == "dir"


def test_console_is_a_pty_held_by_the_host(hutch, ct, probe):
    entries = dict(line.split(" ", 1) for line in probe["dev"])
    major = int(entries["console"].split()[1].split(":")[0], 16)
    assert 136 <= major <= 143, entries["console"]  # a Unix98 pty slave


def test_proc_sys_dev_mounts(probe):
    mounts = _mountinfo(probe["mountinfo"])
    assert mounts["/proc"]["fstype"] == "proc"
    assert mounts["/sys"]["fstype"] == "sysfs"
    assert "ro" in mounts["/sys"]["opts"]
    assert mounts["/dev"]["fstype"] == "tmpfs"
    assert mounts["/dev/pts"]["fstype"] == "devpts"
    assert mounts["/dev/shm"]["fstype"] == "tmpfs"
    assert mounts["/dev/mqueue"]["fstype"] == "mqueue"
    assert mounts["/proc/sys"]["fstype"] == "proc"
    assert "ro" in mounts["/proc/sys"]["opts"]
    # the /proc files that reach the host kernel are masked: /dev/null bound over them
    masked = [f"/proc/{n}" for n in ("kcore", "sysrq-trigger", "kmsg", "keys", "timer_list")]
    present = [m for m in masked if os.path.exists(m)]
    assert present
    for m in present:
        assert m in mounts and mounts[m]["dev"] == _host_dev("/dev/null"), m


def _host_dev(path: str) -> str:
    """major:minor of the filesystem a host path is on, as mountinfo writes it."""
    st = os.stat(path)
    return f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"


def test_devpts_is_a_private_instance(probe):
    mounts = _mountinfo(probe["mountinfo"])
    inner = mounts["/dev/pts"]
    # a new devpts instance is a new superblock: another device number than the host's
    assert inner["dev"] != _host_dev("/dev/pts/ptmx")
    assert "ptmxmode=666" in inner["super"], inner


def test_sys_and_proc_sys_refuse_writes(probe):
    assert any("Read-only file system" in line for line in probe["write_sys"]), probe["write_sys"]
    assert any("Read-only file system" in line for line in probe["write_proc_sys"]), probe[
        "write_proc_sys"
    ]


def test_host_mount_table_is_untouched(hutch, ct):
    # the container's mounts live in its own mount namespace only
    pid = hutch.init_pid(ct)
    with open(f"/proc/{pid}/mountinfo") as f:
        inner = {line.split()[4] for line in f}
    with open("/proc/self/mountinfo") as f:
        host = [line.split()[4] for line in f]
    rootfs = str(hutch.rootfs(ct))
    assert not [m for m in host if m.startswith(rootfs)]
    assert "/dev/console" in inner and "/dev/console" not in host
