"""The host's tools against junk a container plants in its own /etc (issue 12 item 2).

The container's root replaces /etc/hosts, /etc/hostname or /etc/resolv.conf by a FIFO (a
plain open would block hutch for ever), a link to a host file (must not be read nor written
on the host), a link to /dev/zero (resolved inside the root: the container's own character
device, endless) or a 20 GiB sparse file (would be read into the host's memory). Then
`hutch set --hostname` (live and --save), `hutch set --nameserver`, `hutch restart` and a
`reboot` inside (which hutchd handles by itself) must each return: a refused `set` with one
line naming the file and config.toml as it was; a start skipping that one file with a warning
in hutchd's log. Every case runs in both modes.
"""

from __future__ import annotations

import subprocess

import pytest
from test_sec_escape import MODES, create_in_mode

pytestmark = pytest.mark.root

# each hutch command here must return well within this; a hang fails the test (Hutch.run)
TIMEOUT = 60.0

FILES = ["etc/hosts", "etc/hostname", "etc/resolv.conf"]


def _plant_commands(junk: str, path: str, marker: str) -> str:
    p = f"/{path}"
    return {
        "fifo": f"rm -f {p} && mkfifo {p}",
        "host_link": f"rm -f {p} && ln -s {marker} {p}",
        "dev_zero": f"rm -f {p} && ln -s /dev/zero {p}",
        "huge": f"rm -f {p} && truncate -s 20G {p}",
        # the container's init's root, seen from /proc: a magic link, never followed
        "magic_link": f"rm -f {p} && ln -s /proc/1/root/etc/passwd {p}",
    }[junk]


# what a live write of the file must do with each junk: refuse it, or replace it (a link is
# replaced itself, never followed; a file hutch only writes is never read)
def _refused(junk: str, path: str) -> str | None:
    if junk == "fifo":
        return "is a FIFO, not a regular file"
    if path == "etc/hosts":  # read before it is rewritten
        if junk == "dev_zero":
            return "is a character device, not a regular file"
        if junk == "huge":
            return "is 21474836480 bytes, over the"
        if junk == "magic_link":
            return "is reached through a link hutch does not follow"
    return None


@pytest.fixture(scope="module", params=list(MODES))
def mode(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def marker(hutch_root):
    m = hutch_root.root / "host-marker-rootfs-files"
    m.write_text("only the host has this file\n")
    yield m
    m.unlink()


@pytest.fixture(scope="module")
def ct(hutch_root, mode) -> str:
    ctid = create_in_mode(
        hutch_root, mode, "--hostname", "junk.example", "--nameserver", "198.18.0.53"
    )
    hutch_root.start(ctid)
    yield ctid
    hutch_root.remove_containers([ctid])


def _sh(hutch, ctid: str, cmd: str) -> None:
    hutch.ok("exec", ctid, "--", "/bin/sh", "-c", cmd, timeout=TIMEOUT)


def _one_line_failure(p: subprocess.CompletedProcess[str], what: str) -> str:
    lines = p.stderr.splitlines()
    assert p.returncode != 0, f"{what} succeeded: {p.stdout}"
    assert len(lines) == 1 and lines[0].startswith("hutch: "), f"{what}: {p.stderr!r}"
    return lines[0]


def _put_back(hutch, ctid: str, path: str) -> None:
    """A regular file again, for the next case (and a running container)."""
    if hutch.init_pid(ctid) is None:
        hutch.ok("start", ctid, timeout=TIMEOUT)
    _sh(hutch, ctid, f"rm -rf /{path} && echo restored > /{path}")


@pytest.mark.parametrize("junk", ["fifo", "host_link", "dev_zero", "huge", "magic_link"])
@pytest.mark.parametrize("path", FILES)
def test_set_with_junk_returns_and_changes_nothing(hutch_root, ct, marker, path, junk):
    h = hutch_root
    if h.init_pid(ct) is None:
        h.ok("start", ct, timeout=TIMEOUT)
    _sh(h, ct, _plant_commands(junk, path, str(marker)))
    config = h.paths.ct_config(ct).read_text()
    try:
        verb = ["--nameserver", "198.18.0.54"] if path == "etc/resolv.conf" else []
        verb = verb or ["--hostname", f"{junk.replace('_', '')}.example"]
        what = "nameserver" if verb[0] == "--nameserver" else "hostname"
        want = _refused(junk, path)
        for save in ([], ["--save"]):
            p = h.run("set", ct, *verb, *save, timeout=TIMEOUT)
            if want is None:
                assert p.returncode == 0, f"set {verb} {save}: {p.stderr}"
                continue
            line = _one_line_failure(p, f"set {verb} {save}")
            assert line.startswith(f"hutch: cannot set {what} of {ct}: /{path} in the container")
            assert want in line, line
            assert h.paths.ct_config(ct).read_text() == config, "a refused set changed config"
            if what == "hostname":  # the kernel's name did not move either
                out = h.ok("exec", ct, "hostname").stdout.strip()
                assert out != verb[1]
        assert marker.read_text() == "only the host has this file\n"
        assert not (h.rootfs(ct) / "host-marker-rootfs-files").exists() or junk == "host_link"
    finally:
        h.paths.ct_config(ct).write_text(config)
        _put_back(h, ct, path)


@pytest.mark.parametrize("junk", ["fifo", "dev_zero", "huge"])
def test_restart_and_reboot_with_junk_skip_the_file(hutch_root, ct, marker, junk):
    """A start does not fail (nor hang) on the container's junk: it skips that file and says
    so in hutchd's log; so does the restart hutchd makes after a reboot inside."""
    h = hutch_root
    if h.init_pid(ct) is None:
        h.ok("start", ct, timeout=TIMEOUT)
    for path in FILES:
        _sh(h, ct, _plant_commands(junk, path, str(marker)))
    log = h.paths.daemon_log
    seen = len(log.read_text()) if log.exists() else 0
    try:
        h.ok("restart", ct, timeout=TIMEOUT)
        assert h.init_pid(ct) is not None
        pid = h.init_pid(ct)
        h.run("exec", ct, "reboot", timeout=TIMEOUT)
        h.wait_until(
            lambda: (p := h.init_pid(ct)) not in (None, pid) and p,
            TIMEOUT,
            f"{ct} to come back after a reboot with junk in /etc",
        )
        # the rootfs is seen from the host (dir backend): its junk is junk on the host too
        if junk == "fifo":
            text = log.read_text()[seen:]
            for path in FILES:
                assert f"/{path} in the container is a FIFO, not a regular file" in text, text
        assert marker.read_text() == "only the host has this file\n"
    finally:
        for path in FILES:
            _put_back(h, ct, path)


def test_stopped_set_save_with_fifo_changes_nothing(hutch_root, ct, marker):
    """Stopped (dir backend): `set --hostname --save` writes the rootfs from the host."""
    h = hutch_root
    if h.init_pid(ct) is None:
        h.ok("start", ct, timeout=TIMEOUT)
    _sh(h, ct, _plant_commands("fifo", "etc/hosts", str(marker)))
    h.ok("stop", "--kill", ct, timeout=TIMEOUT)
    config = h.paths.ct_config(ct).read_text()
    hostname = (h.rootfs(ct) / "etc/hostname").read_text()
    try:
        p = h.run("set", ct, "--hostname", "stopped.example", "--save", timeout=TIMEOUT)
        line = _one_line_failure(p, "set --save (stopped)")
        assert line == (
            f"hutch: cannot set hostname of {ct}: /etc/hosts in the container is a FIFO, "
            "not a regular file"
        )
        assert h.paths.ct_config(ct).read_text() == config
        assert (h.rootfs(ct) / "etc/hostname").read_text() == hostname
    finally:
        _put_back(h, ct, "etc/hosts")


@pytest.mark.parametrize("backend", ["overlay", "image"])
def test_start_of_a_mounted_root_skips_junk(hutch, mode, backend):
    """Overlay and image roots exist only in the init's mount namespace: the files are
    written there by the intermediate process, which logs what it skipped."""
    ctid = hutch.new_id()
    hutch.ok("create", ctid, *MODES[mode], "--backend", backend, "--hostname", "m.example")
    hutch.ok("set", ctid, "--nameserver", "198.18.0.53", "--save")
    hutch.start(ctid)
    for path in FILES:
        _sh(hutch, ctid, _plant_commands("fifo", path, "/nowhere"))
    log = hutch.paths.daemon_log
    seen = len(log.read_text()) if log.exists() else 0
    hutch.ok("restart", ctid, timeout=TIMEOUT)
    assert hutch.ok("exec", ctid, "hostname").stdout == "m.example\n"
    text = log.read_text()[seen:]
    for path in FILES:
        assert f"/{path} in the container is a FIFO, not a regular file" in text, text
    line = _one_line_failure(
        hutch.run("set", ctid, "--hostname", "n.example", timeout=TIMEOUT), "set"
    )
    assert "/etc/hosts in the container is a FIFO" in line
