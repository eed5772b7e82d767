"""Rootfs backends without root: config keys, what the init mounts, loop structures."""

from __future__ import annotations

from pathlib import Path

import pytest

from hutch.config import KEY_BY_NAME, ContainerConfig
from hutch.errors import UsageError
from hutch.linux import loop
from hutch.paths import Paths
from hutch.storage import backends, snapshots


def cfg(**values: object) -> ContainerConfig:
    return ContainerConfig.from_settings("101", values)


def test_backend_key():
    key = KEY_BY_NAME["storage.backend"]
    assert key.default == "dir" and not key.live
    assert key.from_cli("Overlay") == "overlay"
    with pytest.raises(UsageError, match="--backend"):
        key.from_cli("zfs")
    assert KEY_BY_NAME["storage.diskspace"].live
    assert not KEY_BY_NAME["storage.diskinodes"].live
    with pytest.raises(UsageError):
        KEY_BY_NAME["storage.diskspace"].from_cli("2G:1G")


def test_disk_limits():
    assert backends.disk_limits(cfg()) == (None, None)
    assert backends.disk_limits(cfg(**{"storage.backend": "image"})) == (1 << 30, 1 << 30)
    c = cfg(**{"storage.backend": "image", "storage.diskspace": "1G:2G"})
    assert backends.disk_limits(c) == (1 << 30, 2 << 30)
    c = cfg(**{"storage.diskinodes": "100:200"})
    assert backends.inode_limits(c) == (100, 200)


def test_root_mount_plan(tmp_path):
    paths = Paths(tmp_path)
    assert backends.root_mount(paths, cfg()) is None
    (paths.cache / "unpacked/busybox").mkdir(parents=True)
    m = backends.root_mount(paths, cfg(**{"storage.backend": "overlay"}))
    assert isinstance(m, backends.OverlayRoot)
    ctdir = paths.ct_dir("101")
    assert m.options() == (
        f"lowerdir={paths.cache}/unpacked/busybox,upperdir={ctdir}/upper,workdir={ctdir}/work"
    )
    assert "overlay" in m.describe()
    img = backends.root_mount(paths, cfg(**{"storage.backend": "image"}))
    assert img == backends.ImageRoot(str(ctdir / "root.img"))


def test_overlay_without_its_layer_is_refused(tmp_path):
    with pytest.raises(Exception, match="template layer"):
        backends.root_mount(Paths(tmp_path), cfg(**{"storage.backend": "overlay"}))


def test_overlay_options_escape_separators():
    m = backends.OverlayRoot("/a,b", "/c:d", "/e")
    assert m.options() == r"lowerdir=/a\,b,upperdir=/c\:d,workdir=/e"


def test_loop_structures_match_the_kernel_header():
    assert loop._INFO64.size == 232
    assert loop._CONFIG.size == 304


def test_snapshot_names():
    assert snapshots.validate_name("before-upgrade.1") == "before-upgrade.1"
    for bad in ("", "../x", ".hidden", "a/b"):
        with pytest.raises(UsageError):
            snapshots.validate_name(bad)


def test_disk_usage_counts_hard_links_once(tmp_path: Path):
    (tmp_path / "a").write_bytes(b"x" * 10000)
    (tmp_path / "b").hardlink_to(tmp_path / "a")
    used, inodes = snapshots.disk_usage(tmp_path)
    assert inodes == 2  # the directory and one file
    assert used >= 10000
