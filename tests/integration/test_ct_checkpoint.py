"""hutch checkpoint / hutch restore with CRIU, on the real kernel: processes, memory, files,
a TCP connection and the network come back with the same PIDs."""

from __future__ import annotations

import time

import pytest

from hutch.criu import readiness

pytestmark = pytest.mark.root

# Everything the container runs in the background leaves the exec's session (setsid): CRIU
# saves a process tree whose sessions all live inside the container.
COUNTER = (
    "setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.1; done' "
    "</dev/null >/dev/null 2>&1 &"
)
TCP_SERVER = (
    "setsid sh -c 'tail -f /dev/null | nc -l -p 5000 > /tmp/received' </dev/null >/dev/null 2>&1 &"
)
TCP_CLIENT = (
    "setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done | "
    "nc 127.0.0.1 5000' </dev/null >/dev/null 2>&1 &"
)


@pytest.fixture(scope="module", autouse=True)
def criu_ready() -> None:
    r = readiness.probe()
    if not r.usable:
        pytest.skip(f"criu is not usable here: {r.problems}")


def sh(hutch, ctid: str, script: str) -> str:
    return hutch.ok("exec", ctid, "sh", "-c", script).stdout


def counter(hutch, ctid: str) -> int:
    return int(sh(hutch, ctid, "cat /tmp/counter").strip() or 0)


def last_received(hutch, ctid: str) -> int:
    lines = sh(hutch, ctid, "cat /tmp/received").split()
    return int(lines[-1]) if lines else 0


def processes(hutch, ctid: str) -> set[tuple[str, str]]:
    """(pid, command) of the long-lived processes inside (not the ps, sleeps or sh -c)."""
    out = sh(hutch, ctid, "ps -o pid,args")
    rows = set()
    for line in out.splitlines()[1:]:
        pid, _, args = line.strip().partition(" ")
        # the counter's sleeps come and go, also caught half-way: a zombie ("[sleep]"), or
        # forked and not yet exec'd under its new name ("{exe} sleep 0.1")
        if args.startswith(("ps ", "sleep", "sh -c ps", "{ps}", "[sleep]", "[ps]")) or (
            args.endswith("sleep 0.1")
        ):
            continue
        rows.add((pid, args.strip()))
    return rows


def busy_container(hutch, *create_args: str) -> str:
    ctid = hutch.new_id()
    hutch.ok("create", ctid, *create_args)
    hutch.start(ctid)
    sh(hutch, ctid, COUNTER)
    sh(hutch, ctid, TCP_SERVER)
    time.sleep(0.3)
    sh(hutch, ctid, TCP_CLIENT)
    hutch.wait_until(lambda: last_received(hutch, ctid) >= 3, 10, "the TCP stream to flow")
    return ctid


@pytest.mark.parametrize("mode", [[], ["--privileged"]], ids=["unprivileged", "privileged"])
def test_checkpoint_and_restore_keep_processes_memory_and_tcp(hutch, mode):
    ctid = busy_container(hutch, *mode)
    before = processes(hutch, ctid)
    assert any("nc 127.0.0.1 5000" in args for _, args in before)
    old_pid = hutch.init_pid(ctid)
    out = hutch.ok("checkpoint", ctid).stdout
    assert "checkpointed into" in out and "(stopped)" in out
    assert hutch.ok("status", ctid).stdout.startswith(f"CTID {ctid} exist stopped")
    assert not hutch.alive(old_pid)
    images = hutch.paths.ct_dir(ctid) / "checkpoint"
    assert (images / "hutch.json").is_file() and list(images.glob("pages-*.img"))
    hutch.ok("restore", ctid)
    assert not images.exists()  # the default checkpoint is used up
    assert hutch.ok("status", ctid).stdout.startswith(f"CTID {ctid} exist running")
    # the same processes, with the same PIDs, went on where they were
    assert processes(hutch, ctid) == before
    c1 = counter(hutch, ctid)
    hutch.wait_until(lambda: counter(hutch, ctid) > c1 + 3, 10, "the counter to go on")
    assert c1 > 3  # not started again from 0
    r1 = last_received(hutch, ctid)
    hutch.wait_until(lambda: last_received(hutch, ctid) > r1 + 3, 10, "the TCP stream to go on")
    # the restored init is hutchd's child again: stop works as always
    hutch.ok("stop", "--timeout", "5", ctid)
    hutch.ok("destroy", ctid)


def test_keep_running_takes_a_snapshot(hutch, tmp_path):
    """The processes are saved, not the files: a later restore needs the files its processes
    hold open as they were (so only the counter here, which reopens its file each time)."""
    ctid = hutch.create()
    hutch.start(ctid)
    sh(hutch, ctid, COUNTER)
    hutch.wait_until(lambda: counter(hutch, ctid) >= 3, 10, "the counter to count")
    pid = hutch.init_pid(ctid)
    images = tmp_path / "snap"
    out = hutch.ok("checkpoint", ctid, "--keep-running", "--dir", images).stdout
    assert "still running" in out
    assert hutch.init_pid(ctid) == pid and hutch.alive(pid)
    c1 = counter(hutch, ctid)
    hutch.wait_until(lambda: counter(hutch, ctid) > c1, 10, "the counter to go on")
    hutch.ok("stop", "--kill", ctid)
    hutch.ok("restore", ctid, "--dir", images)
    assert images.is_dir()  # a --dir checkpoint is kept: the operator's
    assert counter(hutch, ctid) >= 1
    hutch.ok("stop", "--kill", ctid)
    hutch.ok("destroy", ctid)


def test_errors_name_the_problem_and_change_nothing(hutch, tmp_path):
    ctid = hutch.create()
    assert "not running" in hutch.fails("checkpoint", ctid)
    assert "holds no checkpoint" in hutch.fails("restore", ctid)
    hutch.start(ctid)
    assert "already running" in hutch.fails("restore", ctid)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "precious").write_text("x")
    assert "is not empty and holds no checkpoint" in hutch.fails("checkpoint", ctid, "--dir", busy)
    assert (busy / "precious").read_text() == "x"
    assert hutch.ok("status", ctid).stdout.startswith(f"CTID {ctid} exist running")
    hutch.ok("stop", "--kill", ctid)
    hutch.ok("destroy", ctid)


def test_a_venet_container_is_reachable_after_restore(hutch, tmp_path):
    """The network namespace with its venet pair comes back; hutch gives the host end its
    routes again. hutch runs in a throwaway network namespace standing in for the host."""
    import os
    import signal

    from netns import HostNetns, NetnsError  # tests/integration/netns.py

    ns = HostNetns.create(f"hutch-cr{os.getpid()}")
    h = type(hutch)(tmp_path / "root")
    ns.attach(h)
    try:
        ctid = h.new_id()
        h.ok("create", ctid)
        h.ok("set", ctid, "--ipadd", "198.18.77.2", "--save")
        h.start(ctid)
        ns.ip("addr", "add", "198.18.77.1/32", "dev", "lo")
        sh(h, ctid, TCP_SERVER.replace("5000", "5001"))
        ping = ("busybox", "ping", "-c", "1", "-W", "2", "198.18.77.2")
        ns.run(*ping)
        h.ok("checkpoint", ctid)
        with pytest.raises(NetnsError):  # gone with the container's network namespace
            ns.run(*ping)
        h.ok("restore", ctid)
        ns.run(*ping)
        # the server inside still listens: a connection from the host's side is answered
        ns.run("busybox", "sh", "-c", "echo hello | busybox nc -w 2 198.18.77.2 5001")
        h.wait_until(lambda: "hello" in sh(h, ctid, "cat /tmp/received"), 5, "the data")
        h.ok("stop", "--kill", ctid)
        h.ok("destroy", ctid)
    finally:
        ns.ip("addr", "flush", "dev", "lo", "to", "198.18.77.1/32", check=False)
        pid = h.daemon_pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            h.wait_exit(pid, 10)
        assert ns.close() == []  # every route, proxy entry and device of hutch's is gone


# What a container's root tries on hutch's mounts, each refused by the kernel: the masks
# and read-only mounts are locked (unprivileged: the mounts came from a more privileged
# mount namespace) or out of reach (privileged: no CAP_SYS_ADMIN).
LOCK_PROBES = (
    "umount /proc/timer_list",
    "umount -l /proc/sys",
    "umount /sys/firmware",
    "mount -o remount,bind,rw /proc/sys",
    "mount -o remount,rw /sys",
    "mount -t proc proc /mnt",
)


def mount_refusals(hutch, ctid: str) -> dict[str, str]:
    out = {}
    for probe in LOCK_PROBES:
        p = hutch.run("exec", ctid, "sh", "-c", f"{probe} 2>&1; echo rc=$?")
        out[probe] = p.stdout.strip().replace(f"{probe.split()[-1]}", "X")
    return out


@pytest.mark.parametrize("mode", [[], ["--privileged"]], ids=["unprivileged", "privileged"])
def test_mounts_stay_locked_after_restore(hutch, mode):
    """Issue 12 item 3: after a restore every mask and read-only mount is as locked as after
    a start (the same refusal, the same errno), and the restored processes go on."""
    ctid = hutch.new_id()
    hutch.ok("create", ctid, *mode)
    hutch.start(ctid)
    sh(hutch, ctid, COUNTER)
    hutch.wait_until(lambda: counter(hutch, ctid) >= 2, 10, "the counter to count")
    at_start = mount_refusals(hutch, ctid)
    assert all(not v.endswith("rc=0") for v in at_start.values()), at_start
    hutch.ok("checkpoint", ctid)
    hutch.ok("restore", ctid)
    assert mount_refusals(hutch, ctid) == at_start
    c1 = counter(hutch, ctid)
    hutch.wait_until(lambda: counter(hutch, ctid) > c1, 10, "the counter to go on")
    hutch.ok("stop", "--kill", ctid)
    hutch.ok("destroy", ctid)


def test_a_process_with_its_own_mount_namespace_is_not_checkpointed(hutch):
    """A restore remakes the container's one mount namespace: a process inside with its own
    is refused before anything is frozen, and the container runs on."""
    ctid = hutch.create()
    hutch.start(ctid)
    pid = hutch.init_pid(ctid)
    sh(hutch, ctid, "setsid unshare -m sleep 1000 </dev/null >/dev/null 2>&1 &")
    hutch.wait_until(
        lambda: "sleep 1000" in sh(hutch, ctid, "ps -o args"), 10, "the unshared sleep"
    )
    line = hutch.fails("checkpoint", ctid)
    assert "has a mount namespace of its own" in line, line
    assert hutch.init_pid(ctid) == pid and hutch.alive(pid)
    assert hutch.ok("status", ctid).stdout.startswith(f"CTID {ctid} exist running")
    hutch.ok("stop", "--kill", ctid)
    hutch.ok("destroy", ctid)
