"""The library as a program uses it: only `import hutch` and the names of `hutch.__all__`.

On the real kernel, as root, in this run's own hutch root: create a busybox container,
start it in this process, run commands and read their output and exit status, set a limit
live, read stats and beancounters, freeze, checkpoint and restore, stop and destroy, and
get a typed error for an unknown ID. Then the same container between the library and
hutchd: each stops what the other started.
"""

from __future__ import annotations

import time

import pytest

import hutch

pytestmark = pytest.mark.root

COUNTER = (
    "setsid sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.1; done' "
    "</dev/null >/dev/null 2>&1 &"
)


def _criu_usable(host: hutch.Host) -> bool:
    return any(
        c.section == "Checkpoint" and c.name == "criu check" and c.status == "enabled"
        for c in host.checkconfig()
    )


def _counter(ct: hutch.Container) -> int:
    return int(ct.exec(["cat", "/tmp/counter"]).stdout.strip() or 0)


def test_a_container_from_create_to_destroy(hutch_root):
    host = hutch.Host(root=hutch_root.root)
    assert any(t.name == "busybox" for t in host.templates)
    with pytest.raises(hutch.NotFound):
        host.get("no-such-container")

    ct = host.create(hutch_root.new_id(), template="busybox", hostname="lib1")
    try:
        assert host.get(ct.id) == ct and ct in host.containers()
        assert ct.status is hutch.Status.STOPPED
        assert ct.config.effective_hostname == "lib1"

        started = ct.start()
        assert isinstance(started, hutch.StartResult) and started.pid > 0
        assert ct.status is hutch.Status.RUNNING
        with pytest.raises(hutch.StateConflict):
            ct.start()

        r = ct.exec(["sh", "-c", "hostname; echo oops >&2; exit 7"])
        assert r == hutch.ExecResult(7, b"lib1\n", b"oops\n")
        assert ct.exec(["cat"], input=b"to stdin").stdout == b"to stdin"
        assert ct.exec(["sh", "-c", "echo $X; pwd"], env={"X": "y"}, cwd="/etc").stdout == (
            b"y\n/etc\n"
        )
        with ct.popen(["sh", "-c", "read line; echo got $line"]) as p:
            p.stdin.write(b"streamed\n")
            p.stdin.close()
            assert p.stdout.read() == b"got streamed\n"
        assert p.returncode == 0

        done = ct.set(memory="300M")
        assert isinstance(done, hutch.SetResult)
        assert done.applied == ("resources.memory",) and not done.saved
        # live changes accumulate in what it runs with; config.toml is left as it was
        assert ct.set(cpus=1).applied == ("resources.cpus",)
        assert ct.config.resources_memory.limit == 300 * 2**20 and ct.config.resources_cpus == 1
        assert ct.saved_config.resources_memory is None
        stats = ct.stats(sample=0.2)
        assert isinstance(stats, hutch.Stats) and stats.memory_limit == 300 * 2**20
        assert stats.tasks and stats.tasks >= 1 and stats.cpu_percent is not None
        rows = {b.resource: b for b in ct.beancounters()}
        assert isinstance(rows["physpages"], hutch.Beancounter)
        assert rows["physpages"].limit == 300 * 2**20 // 4096
        assert rows["numproc"].held and rows["numproc"].held >= 1

        ct.freeze()
        assert ct.status is hutch.Status.FROZEN
        with pytest.raises(hutch.StateConflict):
            ct.exec(["true"])
        ct.unfreeze()
        assert ct.status is hutch.Status.RUNNING

        if _criu_usable(host):
            ct.exec(["sh", "-c", COUNTER])
            time.sleep(0.5)
            dumped = ct.checkpoint()
            assert isinstance(dumped, hutch.CheckpointResult) and not dumped.kept_running
            assert ct.status is hutch.Status.STOPPED
            restored = ct.restore()
            assert isinstance(restored, hutch.RestoreResult) and restored.pid > 0
            before = _counter(ct)
            time.sleep(0.5)
            assert _counter(ct) > before, "the counter did not go on after the restore"
            assert ct.status is hutch.Status.RUNNING

        assert ct.stop(timeout=30) is hutch.Shutdown.CLEAN
        assert ct.status is hutch.Status.STOPPED
        with pytest.raises(hutch.StateConflict):
            ct.exec(["true"])
        assert ct.quota().used_bytes > 0
    finally:
        ct.destroy(force=True)
    with pytest.raises(hutch.NotFound):
        host.get(ct.id)
    assert hutch_root.daemon_pid() is None, "the library started hutchd"


def test_library_and_hutchd_stop_what_the_other_started(hutch_root):
    host = hutch.Host(root=hutch_root.root)
    ct = host.create(hutch_root.new_id())
    try:
        ct.start()
        hutch_root.ok("stop", "--kill", ct.id)  # hutchd adopts it, then stops it
        assert ct.status is hutch.Status.STOPPED
        hutch_root.ok("start", ct.id)
        assert ct.stop(kill=True) is hutch.Shutdown.KILLED  # hutchd's child
        assert ct.status is hutch.Status.STOPPED
        # hutchd's exit handler found it cleaned up and knows it stopped
        hutch_root.wait_until(lambda: hutch_root.status(ct.id) == "stopped", 5, "stopped")
        hutch_root.ok("start", ct.id)
        hutch_root.ok("stop", "--kill", ct.id)
        ct.start()
        hutch_root.ok("freeze", ct.id)
        assert ct.status is hutch.Status.FROZEN
        assert ct.stop(kill=True) is hutch.Shutdown.KILLED
        assert not hutch_root.cgroup_dirs(ct.id)
    finally:
        ct.destroy(force=True)
