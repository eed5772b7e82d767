"""inotify instances of an unprivileged container are charged to its own host user, not to
the host's root (issue 12 item 9). The kernel counts them per user at every user namespace
level up to the namespace's owner; with hutch's root as the owner of every container's
namespace, 128 instances made inside (fs.inotify.max_user_instances) left the host's root
none: systemd, udev and hutchd itself could no longer watch a file.

A privileged container (no user namespace) still shares the host root's count: see README."""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

SRC = Path(__file__).parent / "inotify" / "flood.c"
IN_CLOEXEC = 0o2000000
LIMIT = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())


def _host_root_can_make() -> int:
    """How many inotify instances the host's root can make now (up to LIMIT), closed again."""
    libc = ctypes.CDLL(None, use_errno=True)
    fds = []
    try:
        while len(fds) < LIMIT:
            fd = libc.inotify_init1(IN_CLOEXEC)
            if fd < 0:
                break
            fds.append(fd)
        return len(fds)
    finally:
        for fd in fds:
            os.close(fd)


@pytest.fixture(scope="module")
def flood(tmp_path_factory) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is absent: the inotify probe is C (setup.sh --dev installs it)")
    out = tmp_path_factory.mktemp("inotify") / "flood"
    subprocess.run([gcc, "-static", "-O2", "-Wall", "-o", str(out), str(SRC)], check=True,
                   timeout=120)  # fmt: skip
    return out


def test_unprivileged_container_does_not_use_up_host_roots_inotify(hutch, flood):
    from hutch.container.spawn import owner_may_be_the_container

    if not owner_may_be_the_container():
        pytest.skip(
            "hutch's root lacks CAP_SYS_RESOURCE here (a sandbox): containers' user "
            "namespaces stay root's, so that CRIU may act on their processes"
        )
    ctid = hutch.running()
    dest = hutch.rootfs(ctid) / "flood"
    shutil.copyfile(flood, dest)
    os.chmod(dest, 0o755)
    before = _host_root_can_make()
    assert before > 16, f"the host's root has only {before} inotify instances left"
    p = subprocess.Popen(
        hutch.argv("exec", ctid, "/flood", str(10 * LIMIT)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert select.select([p.stdout], [], [], 30)[0], "the probe did not answer"
        made, _, why = p.stdout.readline().decode().strip().partition(" ")
        # it ran into a limit: its own host user's
        assert int(made) >= 16 and why == "Too many open files", (made, why)
        during = _host_root_can_make()
    finally:
        p.stdin.close()
        p.wait(30)
    # the host's root lost none to the container (a little slack for the host's own work)
    assert during >= before - 8, (before, during, made)
