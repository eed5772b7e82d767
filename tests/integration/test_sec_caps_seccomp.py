"""Capabilities and seccomp: the init and every exec'd process are confined alike, and no
file descriptor of the host reaches them."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hutch.security.capabilities import CAPS, DEFAULT_DROP

pytestmark = pytest.mark.root
PROBE_SRC = Path(__file__).parent / "probe" / "syscall.c"


@pytest.fixture(scope="module")
def ct(hutch_root) -> str:
    return hutch_root.running(hostname="ct-sec.example")


def _status(text: str) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _check_caps(status: dict[str, str], extra: tuple[str, ...] = ()) -> None:
    bnd = int(status["CapBnd"], 16)
    for name in (*DEFAULT_DROP, *extra):
        assert not bnd & (1 << CAPS[name]), f"{name} still in CapBnd {status['CapBnd']}"
    for name in ("CAP_SYS_BOOT", "CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN", "CAP_KILL"):
        assert bnd & (1 << CAPS[name]), f"{name} missing from CapBnd {status['CapBnd']}"
    assert int(status["CapEff"], 16) & ~bnd == 0
    assert int(status["CapAmb"], 16) == 0
    assert status["Seccomp"].strip() == "2"
    assert status["NoNewPrivs"].strip() == "0"  # setuid binaries inside keep working


def test_init_is_confined(hutch, ct):
    with open(f"/proc/{hutch.init_pid(ct)}/status") as f:
        _check_caps(_status(f.read()))
    # and seen from the inside
    _check_caps(_status(hutch.ok("exec", ct, "cat", "/proc/1/status").stdout))


def test_exec_is_confined_like_the_init(hutch, ct):
    _check_caps(_status(hutch.ok("exec", ct, "cat", "/proc/self/status").stdout))
    # a tty does not change it
    _check_caps(_status(hutch.ok("exec", ct, "-t", "cat", "/proc/self/status").stdout))


def test_module_load_is_refused(hutch, ct):
    p = hutch.run("exec", ct, "sh -c 'echo junk > /tmp/x.ko; insmod /tmp/x.ko'")
    assert p.returncode != 0
    assert "Operation not permitted" in p.stdout + p.stderr, p


def test_host_clock_cannot_be_set(hutch, ct):
    before = time.time()
    p = hutch.run("exec", ct, "date", "-s", "2000-01-01")  # busybox: says so, exits 0
    assert "Operation not permitted" in p.stdout + p.stderr, p
    assert abs(time.time() - before) < 60
    # reading it still works
    assert int(hutch.ok("exec", ct, "date", "+%Y").stdout) >= 2024


@pytest.fixture(scope="module")
def sysprobe(tmp_path_factory) -> Path:
    """tests/integration/probe/syscall.c, built static for the busybox container."""
    if os.uname().machine != "x86_64":
        pytest.skip("the raw-call probe speaks x86_64 and i386")
    out = tmp_path_factory.mktemp("sysprobe") / "syscall"
    subprocess.run(["gcc", "-static", "-O2", "-o", out, PROBE_SRC], check=True)
    return out


def _call(hutch, ctid: str, probe: Path, abi: str, nr: int, *args: int) -> str:
    dest = hutch.rootfs(ctid) / "syscall"
    if not dest.exists():
        shutil.copy(probe, dest)
    return hutch.ok("exec", ctid, "/syscall", abi, str(nr), *map(str, args)).stdout.strip()


# (name, number, arguments) by ABI, from asm/unistd_64.h and asm/unistd_32.h. The arguments
# are ones no kernel accepts (17 kexec segments, keyctl operation -1, fd -1, a NULL module),
# so a call the filter let through would still fail harmlessly.
REFUSED = {
    "x86_64": [
        ("kexec_load", 246, (0, 17, 0)),
        ("init_module", 175, (0, 0, 0)),
        ("keyctl", 250, (-1,)),
        ("open_by_handle_at", 304, (-1, 0, 0)),
    ],
    "i386": [
        ("kexec_load", 283, (0, 17, 0)),
        ("init_module", 128, (0, 0, 0)),
        ("keyctl", 288, (-1,)),
        ("open_by_handle_at", 342, (-1, 0, 0)),
    ],
}


def test_host_level_calls_are_refused_natively_and_through_i386(hutch, ct, sysprobe):
    for abi, calls in REFUSED.items():
        for name, nr, args in calls:
            assert _call(hutch, ct, sysprobe, abi, nr, *args) == f"errno {errno.EPERM}", (abi, name)
    # the probe itself works on both ABIs: getpid is allowed
    assert _call(hutch, ct, sysprobe, "x86_64", 39).startswith("ret ")
    assert _call(hutch, ct, sysprobe, "i386", 20).startswith("ret ")
    # x32 calls are not checked one by one: the filter kills the caller
    p = hutch.run("exec", ct, "/syscall", "x32", "39")
    assert p.returncode == 128 + signal.SIGSYS and "ret" not in p.stdout, p


# The policy table's newer refusals, with the answer each gives: ENOSYS where programs fall
# back to an older call (clone3 -> clone, the new mount API -> mount(2)). The arguments are
# ones the kernel itself would reject (NULL pointers: EFAULT, size 0: EINVAL), so a call the
# filter let through fails harmlessly and differently.
POLICY_ANSWERS = [
    ("io_uring_setup", 425, (1, 0), errno.EPERM),
    ("fsopen", 430, (0, 0), errno.ENOSYS),
    ("fsconfig", 431, (-1, 6), errno.ENOSYS),
    ("fsmount", 432, (-1, 0, 0), errno.ENOSYS),
    ("open_tree", 428, (-100, 0, 0), errno.ENOSYS),
    ("move_mount", 429, (-1, 0, -100), errno.ENOSYS),
    ("clone3", 435, (0, 0), errno.ENOSYS),
]
# and what the kernel says to the same calls unconfined
KERNEL_ANSWERS = {
    "io_uring_setup": errno.EFAULT,
    "fsopen": errno.EFAULT,
    "fsconfig": errno.EINVAL,
    "fsmount": errno.EBADF,
    "open_tree": errno.EFAULT,
    "move_mount": errno.EFAULT,
    "clone3": errno.EINVAL,
}


def test_policy_answers_natively_and_through_i386(hutch, ct, sysprobe):
    for abi in ("x86_64", "i386"):  # the numbers are the same on both
        for name, nr, args, answer in POLICY_ANSWERS:
            assert _call(hutch, ct, sysprobe, abi, nr, *args) == f"errno {answer}", (abi, name)
    # the personality query and PER_LINUX32 stay; ADDR_NO_RANDOMIZE is refused
    assert _call(hutch, ct, sysprobe, "x86_64", 135, 0xFFFFFFFF) == "ret 0"
    assert _call(hutch, ct, sysprobe, "x86_64", 135, 0x0040000) == f"errno {errno.EPERM}"
    assert _call(hutch, ct, sysprobe, "i386", 136, 0x0400000) == f"errno {errno.EPERM}"
    # and a container's ordinary work goes on: busybox forks (clone), mounts a tmpfs
    out = hutch.ok(
        "exec",
        ct,
        "sh -c 'mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && echo ok && umount /tmp/m'",
    ).stdout
    assert out.strip() == "ok", out


def test_unconfined_kernel_answers(hutch, sysprobe):
    """The answers above are the filter's: unconfined, the kernel gives its own."""
    ctid = hutch.create()
    hutch.ok("set", ctid, "--seccomp", "unconfined", "--save")
    hutch.start(ctid)
    got = {
        name: _call(hutch, ctid, sysprobe, "x86_64", nr, *args)
        for name, nr, args, _ in POLICY_ANSWERS
    }
    assert got == {name: f"errno {e}" for name, e in KERNEL_ANSWERS.items()}


def test_cap_drop_and_seccomp_deny_from_the_config(hutch):
    ctid = hutch.create(hostname="ct-sec2.example")
    hutch.ok("set", ctid, "--cap_drop", "CAP_NET_RAW", "--seccomp_deny", "sethostname", "--save")
    hutch.start(ctid)
    with open(f"/proc/{hutch.init_pid(ctid)}/status") as f:
        _check_caps(_status(f.read()), extra=("CAP_NET_RAW",))
    _check_caps(
        _status(hutch.ok("exec", ctid, "cat", "/proc/self/status").stdout),
        extra=("CAP_NET_RAW",),
    )
    p = hutch.run("exec", ctid, "hostname", "other")
    assert p.returncode != 0 and "Operation not permitted" in p.stdout + p.stderr, p
    assert hutch.ok("exec", ctid, "hostname").stdout == "ct-sec2.example\n"


def test_unconfined(hutch, request):
    ctid = hutch.create()
    hutch.ok("set", ctid, "--seccomp", "unconfined", "--cap_keep", "CAP_SYS_TIME", "--save")
    hutch.start(ctid)
    status = _status(hutch.ok("exec", ctid, "cat", "/proc/self/status").stdout)
    assert status["Seccomp"].strip() == "0"
    if os.uname().machine == "x86_64":
        # the kernel's own answer to keyctl(-1): it was the filter that said EPERM above
        probe = request.getfixturevalue("sysprobe")
        assert _call(hutch, ctid, probe, "x86_64", 250, -1) == f"errno {errno.EOPNOTSUPP}"
    assert int(status["CapBnd"], 16) & (1 << CAPS["CAP_SYS_TIME"])
    assert not int(status["CapBnd"], 16) & (1 << CAPS["CAP_SYS_MODULE"])


def test_only_stdio_reaches_the_container(hutch, ct):
    # the init, seen from the host: busybox init opens nothing of its own once running
    fds = sorted(int(fd) for fd in os.listdir(f"/proc/{hutch.init_pid(ct)}/fd"))
    assert fds == [0, 1, 2], fds
    # an exec'd command: stdio, and the directory fd ls itself opens to read /proc/self/fd
    out = hutch.ok("exec", ct, "ls", "/proc/self/fd").stdout.split()
    assert len(set(out) - {"0", "1", "2"}) <= 1, out
    out = hutch.ok("exec", ct, "-t", "ls", "/proc/self/fd").stdout.split()
    assert len(set(out) - {"0", "1", "2"}) <= 1, out
