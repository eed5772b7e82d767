"""An unprivileged (default) container on a pure cgroup v2 host: its user namespace, the
cgroup2 mount inside it, the delegated inner group (cgroup.procs, cgroup.subtree_control,
cgroup.threads given to its root), the device program. One container, one Python process:
under emulation every start costs seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from reaping import kill_and_reap

from hutch.cgroups.v2 import V2Driver
from hutch.container import lifecycle
from hutch.container.host import Host
from hutch.container.runtime import Started, cleanup, launch
from hutch.linux import syscalls as sc
from hutch.security.idmap import SIZE, blocks

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Host, Started]]:
    if not blocks():
        pytest.skip("root has no subordinate IDs in /etc/subuid and /etc/subgid")
    sc.set_child_subreaper()  # the init becomes our child, so we can reap it
    host = Host(str(tmp_path_factory.mktemp("v2userns")))
    assert isinstance(host.cgroups, V2Driver)
    cfg = lifecycle.create(host, "un")  # the defaults: unprivileged, the shared block
    assert cfg.idmap is not None and not cfg.security_privileged
    s = launch(host, cfg, with_console=False)
    try:
        yield host, s
    finally:
        kill_and_reap(s.state.pid)
        cleanup(host, s.state.ctid, s.state.cgroups)
        assert not s.state.cgroups.primary.exists()
        lifecycle.destroy(host, "un")


def _exec(host: Host, *argv: str, ctid: str = "un") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hutch", "--root", str(host.paths.root), "exec", ctid, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unprivileged_container_on_v2(started: tuple[Host, Started]) -> None:
    host, s = started
    base = s.state.idmap_base
    assert base == blocks()[0]
    status = Path(f"/proc/{s.state.pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == [str(base)] * 4, uid_line
    group = s.state.cgroups.primary
    inner = group / "ct"
    # the inner group and its delegation files are the container's root's, limits are not
    for name in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
        st = (inner / name).stat() if name else inner.stat()
        assert (st.st_uid, st.st_gid) == (base, base), name
    assert (inner / "pids.max").stat().st_uid == 0
    assert (group / "pids.max").stat().st_uid == 0
    script = "; ".join(
        [
            "cat /proc/self/uid_map",
            "id -u",
            "grep ' /sys/fs/cgroup ' /proc/mounts",
            "cat /proc/self/cgroup",
            "mkdir /sys/fs/cgroup/svc && echo $$ >/sys/fs/cgroup/svc/cgroup.procs"
            " && cat /proc/self/cgroup",
            "if echo 7 >/sys/fs/cgroup/pids.max; then echo WROTE-LIMIT; fi",
        ]
    )
    r = _exec(host, "sh", "-c", script)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["0", str(base), str(SIZE)], (r.stdout, r.stderr)
    assert lines[1] == "0"
    assert " cgroup2 " in lines[2], lines
    assert lines[3] == "0::/" and lines[4] == "0::/svc", (r.stdout, r.stderr)
    assert "WROTE-LIMIT" not in r.stdout and "Permission denied" in r.stderr, r.stderr
    svc = inner / "svc"
    assert svc.is_dir() and svc.stat().st_uid == base
    assert _read(inner / "pids.max") == "max"
    rm = _exec(host, "rmdir", "/sys/fs/cgroup/svc")
    assert rm.returncode == 0, rm.stderr
    assert not svc.exists()


def test_device_program_holds_in_the_user_namespace(started: tuple[Host, Started]) -> None:
    from hutch.linux import bpf

    host, s = started
    gfd = os.open(s.state.cgroups.primary, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(bpf.prog_query(gfd, bpf.BPF_CGROUP_DEVICE)) == 1
    finally:
        os.close(gfd)
    # a user namespace may not make device nodes at all; what hutch made works
    mk = _exec(host, "sh", "-c", "mknod /tmp/mem c 1 1")
    assert mk.returncode != 0 and "Operation not permitted" in mk.stderr, mk.stderr
    ok = _exec(host, "sh", "-c", "echo x >/dev/null && head -c4 /dev/zero | wc -c")
    assert ok.returncode == 0 and ok.stdout.strip() == "4", ok.stderr


def _read(path: Path) -> str:
    return path.read_text().strip()


def test_privileged_container_on_v2(tmp_path_factory: pytest.TempPathFactory) -> None:
    """--privileged: the IDs are the host's, in a user namespace that maps every ID to itself
    (issue 12 item 5); its cgroup2 mount and inner group work as an unprivileged one's."""
    sc.set_child_subreaper()
    host = Host(str(tmp_path_factory.mktemp("v2priv")))
    cfg = lifecycle.create(host, "pr", settings={"security.privileged": True})
    assert cfg.idmap is None
    s = launch(host, cfg, with_console=False)
    try:
        assert s.state.idmap_base == 0 and s.state.idmap == "privileged"
        pid = s.state.pid
        assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
        assert Path(f"/proc/{pid}/uid_map").read_text().split() == ["0", "0", "4294967295"]
        script = "; ".join(
            [
                "readlink /proc/self/ns/user",
                "grep ' /sys/fs/cgroup ' /proc/mounts",
                "mkdir /sys/fs/cgroup/svc && echo $$ >/sys/fs/cgroup/svc/cgroup.procs"
                " && cat /proc/self/cgroup",
                "mknod /tmp/console c 5 1 2>/dev/null && echo MADE || echo refused",
            ]
        )
        r = _exec(host, "sh", "-c", script, ctid="pr")
        lines = r.stdout.splitlines()
        assert lines[0] == os.readlink(f"/proc/{pid}/ns/user"), (r.stdout, r.stderr)
        assert " cgroup2 " in lines[1], lines
        assert lines[2] == "0::/svc", (r.stdout, r.stderr)
        assert lines[3] == "refused", lines
        assert _exec(host, "rmdir", "/sys/fs/cgroup/svc", ctid="pr").returncode == 0
    finally:
        kill_and_reap(s.state.pid)
        cleanup(host, s.state.ctid, s.state.cgroups)
        lifecycle.destroy(host, "pr")
