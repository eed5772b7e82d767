"""The built-in busybox template: layout, inittab, links, modes, atomicity, and a chroot run."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from hutch.errors import AlreadyExists, NotFound, OperationFailed
from hutch.storage import busybox as bb

BUSYBOX = Path("/bin/busybox")
pytestmark = pytest.mark.skipif(
    not BUSYBOX.is_file(), reason="/bin/busybox is absent (apt-get install busybox-static)"
)

# Every action busybox init understands (init/init.c).
INIT_ACTIONS = {
    "sysinit",
    "wait",
    "once",
    "respawn",
    "askfirst",
    "shutdown",
    "restart",
    "ctrlaltdel",
}


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("template") / "rootfs"
    bb.build_busybox_rootfs(dest)
    return dest


def resolve_inside(root: Path, path: str) -> Path:
    """Resolve `path` as the container would see it: symlinks, absolute ones included,
    are followed relative to `root`, never into the host."""
    parts = [p for p in PurePosixPath(path).parts if p != "/"]
    current = PurePosixPath("/")
    for _ in range(40):  # the kernel's MAXSYMLINKS
        if not parts:
            return root / str(current).lstrip("/")
        part = parts.pop(0)
        candidate = current / part
        host = root / str(candidate).lstrip("/")
        if host.is_symlink():
            target = PurePosixPath(os.readlink(host))
            base = PurePosixPath("/") if target.is_absolute() else current
            rest = [p for p in target.parts if p != "/"]
            parts = rest + parts
            current = base
        elif part == "..":
            current = current.parent
        elif part != ".":
            current = candidate
    raise AssertionError(f"too many symlinks resolving {path}")


def inittab_entries(rootfs: Path) -> list[list[str]]:
    lines = (rootfs / "etc/inittab").read_text().splitlines()
    return [line.split(":", 3) for line in lines if line.strip() and not line.startswith("#")]


def test_inittab_lines_are_valid_busybox_entries(rootfs: Path) -> None:
    entries = inittab_entries(rootfs)
    assert entries
    for entry in entries:
        assert len(entry) == 4, entry
        _id, _runlevels, action, process = entry
        assert action in INIT_ACTIONS, entry
        program = process.split()[0].lstrip("-")
        assert resolve_inside(rootfs, program).is_file(), f"{program} missing in rootfs"


def test_inittab_behaves_like_a_system(rootfs: Path) -> None:
    actions = {(e[2], e[3]) for e in inittab_entries(rootfs)}
    assert ("sysinit", "/etc/init.d/rcS") in actions
    assert ("askfirst", "-/bin/sh") in actions
    assert ("ctrlaltdel", "/sbin/reboot") in actions
    assert ("restart", "/sbin/init") in actions
    assert any(a == "respawn" and "syslogd" in p for a, p in actions)
    assert any(a == "shutdown" and p.startswith("/bin/umount -a") for a, p in actions)
    # "-r" would remount a host filesystem read-only from a privileged container.
    assert not any(a == "shutdown" and " -r" in p for a, p in actions)


def test_every_applet_link_resolves_to_busybox(rootfs: Path) -> None:
    real = rootfs / "bin/busybox"
    listed = subprocess.run(
        [str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(listed) > 100
    for applet in listed:
        assert resolve_inside(rootfs, "/" + applet) == real, applet
    for applet in ("sbin/init", "bin/sh", "usr/bin/env", "sbin/syslogd", "sbin/ip"):
        assert (rootfs / applet).is_symlink()


def test_busybox_copy_is_static_and_executable(rootfs: Path) -> None:
    copy = rootfs / "bin/busybox"
    assert not copy.is_symlink()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o755
    assert bb.is_static_elf(copy)


def test_modes(rootfs: Path) -> None:
    def mode(rel: str) -> int:
        return stat.S_IMODE((rootfs / rel).lstat().st_mode)

    assert mode("tmp") == 0o1777
    assert mode("root") == 0o700
    assert mode("etc/shadow") == 0o640
    assert mode(".") == 0o755
    assert mode("etc/init.d/rcS") == 0o755
    assert mode("etc/init.d/rcK") == 0o755


def test_etc_files(rootfs: Path) -> None:
    etc = rootfs / "etc"
    assert etc.joinpath("hostname").read_text() == "busybox\n"
    assert etc.joinpath("fstab").read_text() == ""
    passwd = etc.joinpath("passwd").read_text().splitlines()
    assert "root:x:0:0:root:/root:/bin/sh" in passwd
    assert any(line.startswith("nobody:") for line in passwd)
    assert etc.joinpath("shadow").read_text().startswith("root:*:")
    hosts = etc.joinpath("hosts").read_text()
    assert "127.0.0.1\tlocalhost" in hosts and "::1\t" in hosts
    release = dict(
        line.split("=", 1) for line in etc.joinpath("os-release").read_text().splitlines()
    )
    assert release["ID"] == "busybox"
    assert release["VERSION_ID"] == bb.busybox_version()
    assert "PS1=" in etc.joinpath("profile").read_text()
    for rel, _mode in bb._DIRS:
        assert (rootfs / rel).is_dir(), rel


def test_version_looks_like_a_version() -> None:
    version = bb.busybox_version()
    assert version[0].isdigit() and "." in version


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_dynamic_binary_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    dynamic = Path("/usr/bin/env")
    if bb.is_static_elf(dynamic.resolve()):
        pytest.skip("/usr/bin/env is static on this host")
    dest = tmp_path / "rootfs"
    with pytest.raises(OperationFailed, match="dynamically linked"):
        bb.build_busybox_rootfs(dest, busybox=dynamic)
    assert leftovers(tmp_path) == []


def test_failure_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_files(version: str) -> tuple[tuple[str, int, str], ...]:
        return (("etc/no/such/dir/file", 0o644, ""),)  # parent missing: write fails

    monkeypatch.setattr(bb, "_files", broken_files)
    dest = tmp_path / "rootfs"
    with pytest.raises(OperationFailed, match="cannot build"):
        bb.build_busybox_rootfs(dest)
    assert leftovers(tmp_path) == []


def test_missing_busybox_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as info:
        bb.build_busybox_rootfs(tmp_path / "rootfs", busybox=tmp_path / "busybox")
    assert info.value.hint == "apt-get install busybox-static"
    assert leftovers(tmp_path) == []


def test_non_elf_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "busybox"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(OperationFailed, match="not an ELF"):
        bb.build_busybox_rootfs(tmp_path / "rootfs", busybox=script)


def test_empty_dest_is_filled_and_nonempty_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    bb.build_busybox_rootfs(empty)
    assert (empty / "bin/busybox").is_file()
    with pytest.raises(AlreadyExists):
        bb.build_busybox_rootfs(empty)
    assert leftovers(tmp_path) == ["empty"]


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
@pytest.mark.skipif(shutil.which("chroot", path="/usr/sbin:/usr/bin") is None, reason="no chroot")
def test_chroot_runs_a_shell(rootfs: Path) -> None:
    chroot = shutil.which("chroot", path="/usr/sbin:/usr/bin")
    assert chroot
    result = subprocess.run(
        [chroot, str(rootfs), "/bin/sh", "-c", "ls /bin >/dev/null && . /etc/profile && echo ok"],
        capture_output=True,
        text=True,
        timeout=10,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
