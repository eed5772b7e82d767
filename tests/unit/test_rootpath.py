"""Paths resolved inside a rootfs stay inside it, whatever symlinks it holds."""

from __future__ import annotations

import os

import pytest

from hutch.container.hostname import _hosts_with, write_hostname_files
from hutch.container.initsys import detect_init, poweroff_signal
from hutch.linux import syscalls as sc
from hutch.linux.rootpath import (
    RootFileRefused,
    check_replaceable,
    mkdirs_in_root,
    open_in_root,
    read_file_in_root,
    replace_symlink_in_root,
    write_file_in_root,
)


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


# -- the safe in-root file helper (issue 12 item 2) -------------------------------------------


def _refused(fn, *args):
    with pytest.raises(RootFileRefused) as e:
        fn(*args)
    return str(e.value)


def test_read_refuses_a_fifo_without_blocking(tmp_path):
    (tmp_path / "etc").mkdir()
    os.mkfifo(tmp_path / "etc/hosts")  # no writer: a plain open(O_RDONLY) would block
    fd = _rootfd(tmp_path)
    try:
        msg = _refused(read_file_in_root, fd, "etc/hosts")
    finally:
        os.close(fd)
    assert msg == "/etc/hosts in the container is a FIFO, not a regular file"


def test_read_refuses_a_device_and_a_directory():
    fd = _rootfd("/")  # the host's own root holds real device nodes
    try:
        assert "is a character device" in _refused(read_file_in_root, fd, "dev/null")
        assert "is a directory" in _refused(read_file_in_root, fd, "etc")
    finally:
        os.close(fd)


def test_read_refuses_a_huge_sparse_file_by_its_size(tmp_path):
    (tmp_path / "etc").mkdir()
    with open(tmp_path / "etc/hosts", "wb") as f:
        f.truncate(20 << 30)  # 20 GiB, sparse: costs no disk, would cost host memory
    fd = _rootfd(tmp_path)
    try:
        msg = _refused(read_file_in_root, fd, "etc/hosts")
        assert msg.startswith("/etc/hosts in the container is 21474836480 bytes, over the")
        (tmp_path / "etc/small").write_bytes(b"x" * 100)
        assert "is 100 bytes" in _refused(read_file_in_root, fd, "etc/small", 99)
        assert read_file_in_root(fd, "etc/small", 100) == b"x" * 100
        assert read_file_in_root(fd, "etc/missing") is None
    finally:
        os.close(fd)


def test_read_follows_links_inside_the_root_only(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "secret"
    (root / "etc").mkdir(parents=True)
    outside.write_text("host secret\n")
    (root / "etc/hosts").symlink_to(str(outside))
    (root / str(outside).lstrip("/")).parent.mkdir(parents=True)
    (root / str(outside).lstrip("/")).write_text("inside\n")
    fd = _rootfd(root)
    try:
        assert read_file_in_root(fd, "etc/hosts") == b"inside\n"
    finally:
        os.close(fd)


def test_write_refuses_fifo_and_directory_and_changes_nothing(tmp_path):
    (tmp_path / "etc").mkdir()
    os.mkfifo(tmp_path / "etc/hosts")
    (tmp_path / "etc/hostname").mkdir()
    fd = _rootfd(tmp_path)
    try:
        assert "is a FIFO" in _refused(write_file_in_root, fd, "etc/hosts", b"x\n")
        assert "is a directory" in _refused(write_file_in_root, fd, "etc/hostname", b"x\n")
        assert "is a FIFO" in _refused(check_replaceable, fd, "etc/hosts")
    finally:
        os.close(fd)
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["hostname", "hosts"]


def test_write_replaces_a_symlink_never_its_target(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "marker"
    (root / "etc").mkdir(parents=True)
    outside.write_text("untouched\n")
    (root / "etc/hosts").symlink_to(str(outside))
    fd = _rootfd(root)
    try:
        write_file_in_root(fd, "etc/hosts", b"new\n")
    finally:
        os.close(fd)
    assert outside.read_text() == "untouched\n"
    assert not (root / "etc/hosts").is_symlink()
    assert (root / "etc/hosts").read_bytes() == b"new\n"


def test_write_keeps_the_mode_and_ignores_a_planted_temp_name(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/shadow").write_text("root:x:\n")
    os.chmod(tmp_path / "etc/shadow", 0o640)
    os.mkfifo(tmp_path / "etc/.shadow.hutch-tmp")  # the old fixed temp name, as a trap
    fd = _rootfd(tmp_path)
    try:
        write_file_in_root(fd, "etc/shadow", b"root:!x:\n")
        write_file_in_root(fd, "etc/new", b"n\n", 0o600)
    finally:
        os.close(fd)
    assert (tmp_path / "etc/shadow").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "etc/new").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == [
        ".shadow.hutch-tmp",
        "new",
        "shadow",
    ]


def test_replace_symlink_in_root(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/unit").write_text("x")
    fd = _rootfd(tmp_path)
    try:
        replace_symlink_in_root(fd, "/dev/null", "etc/unit")
        (tmp_path / "etc/d").mkdir()
        assert "is a directory" in _refused(replace_symlink_in_root, fd, "/x", "etc/d")
    finally:
        os.close(fd)
    assert os.readlink(tmp_path / "etc/unit") == "/dev/null"


def test_hostname_strict_changes_nothing_lenient_skips_one_file(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("old\n")
    os.mkfifo(tmp_path / "etc/hosts")
    with pytest.raises(RootFileRefused, match="/etc/hosts in the container is a FIFO"):
        write_hostname_files(str(tmp_path), "new")
    assert (tmp_path / "etc/hostname").read_text() == "old\n"  # strict: nothing written
    warnings = write_hostname_files(str(tmp_path), "new", strict=False)
    assert warnings == ["/etc/hosts in the container is a FIFO, not a regular file: left as it is"]
    assert (tmp_path / "etc/hostname").read_text() == "new\n"


def test_a_mount_target_is_never_opened_for_io(tmp_path):
    from hutch.linux.rootpath import create_file_in_root

    (tmp_path / "dev").mkdir()
    os.mkfifo(tmp_path / "dev/console")  # an O_WRONLY open would wait for a reader
    (tmp_path / "dev/link").symlink_to("/etc/shadow")
    fd = _rootfd(tmp_path)
    try:
        target = create_file_in_root(fd, "dev/console")
        os.close(target)
        with pytest.raises(OSError, match="refusing symlink as mount target"):
            create_file_in_root(fd, "dev/link")
        os.close(create_file_in_root(fd, "dev/new"))
    finally:
        os.close(fd)
    assert (tmp_path / "dev/new").is_file()


def test_magic_links_and_non_directories_are_refused_in_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    host = _rootfd("/")  # a root with a /proc: its fd links are magic links, never followed
    try:
        assert "a link hutch does not follow" in _refused(read_file_in_root, host, "proc/self/exe")
    finally:
        os.close(host)
    fd = _rootfd(tmp_path)
    try:
        msg = _refused(write_file_in_root, fd, "file/x", b"")
        assert msg == "/file in the container has something other than a directory on its path"
        assert "other than a directory" in _refused(read_file_in_root, fd, "file/x")
    finally:
        os.close(fd)
