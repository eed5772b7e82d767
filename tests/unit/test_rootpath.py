"""Paths resolved inside a rootfs stay inside it, whatever symlinks it holds."""

from __future__ import annotations

import os

import pytest

from hutch.container.hostname import _hosts_with, write_hostname_files
from hutch.container.initsys import detect_init, poweroff_signal
from hutch.linux import syscalls as sc
from hutch.linux.rootpath import mkdirs_in_root, open_in_root, write_file_in_root


def _rootfd(path):
    return os.open(path, sc.O_PATH | os.O_DIRECTORY)


def test_absolute_symlink_resolves_inside_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "etc").symlink_to(str(outside))  # an attacker's link to a host path
    fd = _rootfd(root)
    try:
        # dangling inside the root: refused, and nothing reaches the host directory
        with pytest.raises(OSError):
            write_file_in_root(fd, "etc/hostname", b"evil\n")
        assert not (outside / "hostname").exists()
        # once the link's target exists inside the root, the write lands there
        (root / str(outside).lstrip("/")).mkdir(parents=True)
        write_file_in_root(fd, "etc/hostname", b"evil\n")
    finally:
        os.close(fd)
    assert not (outside / "hostname").exists()
    assert (root / str(outside).lstrip("/") / "hostname").read_bytes() == b"evil\n"


def test_dotdot_cannot_climb_out(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "up").symlink_to("../../..")
    fd = _rootfd(root)
    try:
        dfd = mkdirs_in_root(fd, "up/made")
        os.close(dfd)
    finally:
        os.close(fd)
    assert (root / "made").is_dir()


def test_hostname_files_are_written_inside(tmp_path):
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n10.0.0.1 other\n")
    write_hostname_files(str(root), "web1.example.com")
    assert (root / "etc/hostname").read_text() == "web1.example.com\n"
    hosts = (root / "etc/hosts").read_text()
    assert "10.0.0.1 other" in hosts
    assert "127.0.1.1\tweb1.example.com web1" in hosts
    write_hostname_files(str(root), "db")
    assert (root / "etc/hosts").read_text().count("127.0.1.1") == 1


def test_hosts_gets_localhost_when_missing():
    assert _hosts_with("", "x").splitlines()[0] == "127.0.0.1\tlocalhost"


def test_detect_init_follows_links_inside_the_root(tmp_path):
    root = tmp_path / "r"
    (root / "sbin").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "lib/systemd").mkdir(parents=True)
    (root / "bin/busybox").write_bytes(b"")
    (root / "sbin/init").symlink_to("/bin/busybox")
    assert detect_init(str(root)) == "busybox"
    (root / "sbin/init").unlink()
    (root / "lib/systemd/systemd").write_bytes(b"")
    (root / "sbin/init").symlink_to("../lib/systemd/systemd")
    assert detect_init(str(root)) == "systemd"
    (root / "sbin/init").unlink()
    (root / "sbin/init").write_bytes(b"")
    assert detect_init(str(root)) == "sysvinit"
    fd = _rootfd(root)
    os.close(open_in_root(fd, "/sbin/init"))
    os.close(fd)


def test_poweroff_signals():
    import signal

    assert poweroff_signal("busybox") == signal.SIGUSR2
    assert poweroff_signal("systemd") == signal.SIGRTMIN + 4
    assert poweroff_signal("sysvinit") == signal.SIGPWR
