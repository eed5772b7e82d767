"""Rootfs backends without root: config keys, what the init mounts, loop structures."""

from __future__ import annotations

from pathlib import Path

import pytest

from hutch.config import KEY_BY_NAME, ContainerConfig
from hutch.config.schema import BACKENDS
from hutch.container import rootfs
from hutch.errors import UsageError
from hutch.linux import loop
from hutch.paths import Paths
from hutch.storage import backends, snapshots
from hutch.storage.backends import Quota, Rootfs


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


def test_the_config_offers_every_backend_of_the_table():
    assert BACKENDS == backends.NAMES
    assert KEY_BY_NAME["storage.backend"].default == backends.DEFAULT
    assert all(backends.get(n).name == n for n in backends.NAMES)
    with pytest.raises(UsageError, match="not a rootfs backend"):
        backends.get("zfs")


def test_disk_limits():
    def limits(c: ContainerConfig) -> tuple[int | None, int | None]:
        q = rootfs.quota_of(c)
        return q.soft_bytes, q.hard_bytes

    assert limits(cfg()) == (None, None)
    assert limits(cfg(**{"storage.backend": "image"})) == (1 << 30, 1 << 30)
    c = cfg(**{"storage.backend": "image", "storage.diskspace": "1G:2G"})
    assert limits(c) == (1 << 30, 2 << 30)
    c = cfg(**{"storage.diskinodes": "100:200"})
    q = rootfs.quota_of(c)
    assert (q.soft_inodes, q.hard_inodes) == (100, 200)


def test_the_backends_take_plain_values():
    """Sizes reach a backend as bytes, from the config by hutch.container.rootfs only."""
    image = backends.get("image")
    assert image.quota(Quota()) == Quota(1 << 30, 1 << 30)
    assert image.quota(Quota(5 << 20)) == Quota(5 << 20, 1 << 30)
    assert image.quota(Quota(1, 2, 3, 4)) == Quota(1, 2, 3, 4)
    assert backends.get("dir").quota(Quota()) == Quota()
    c = cfg(**{"storage.backend": "image", "storage.diskspace": "1G:2G", "template": "t"})
    root = rootfs.rootfs_of(Paths(Path("/x")), c)
    assert root == Rootfs("101", Path("/x/var/lib/hutch/containers/101"), "t", c.idmap,
                          Quota(1 << 30, 2 << 30))  # fmt: skip


def test_what_each_backend_can_do():
    d, o, i = (backends.get(n) for n in ("dir", "overlay", "image"))
    assert d.root_on_host and not o.root_on_host and not i.root_on_host
    assert i.has_quota and not d.has_quota and not o.has_quota
    assert not i.snapshot_running and d.snapshot_running and o.snapshot_running
    assert o.shares_template and not d.shares_template and not i.shares_template
    ctdir = Path("/ct")
    assert [b.data_path(ctdir) for b in (d, o, i)] == [
        ctdir / "rootfs",
        ctdir / "upper",
        ctdir / "root.img",
    ]


def test_root_mount_plan(tmp_path):
    paths = Paths(tmp_path)
    assert rootfs.root_mount(paths, cfg()) is None
    (paths.cache / "unpacked/busybox").mkdir(parents=True)
    m = rootfs.root_mount(paths, cfg(**{"storage.backend": "overlay"}))
    assert isinstance(m, backends.OverlayRoot)
    ctdir = paths.ct_dir("101")
    assert m.options() == (
        f"lowerdir={paths.cache}/unpacked/busybox,upperdir={ctdir}/upper,workdir={ctdir}/work"
    )
    assert "overlay" in m.describe()
    img = rootfs.root_mount(paths, cfg(**{"storage.backend": "image"}))
    assert img == backends.ImageRoot(str(ctdir / "root.img"))


def test_overlay_without_its_layer_is_refused(tmp_path):
    with pytest.raises(Exception, match="template layer"):
        rootfs.root_mount(Paths(tmp_path), cfg(**{"storage.backend": "overlay"}))


def test_the_skeleton_of_a_copy(tmp_path):
    """What a clone or a received migration gets besides the data: the mount points."""
    for name in backends.NAMES:
        ctdir = tmp_path / name
        ctdir.mkdir()
        backends.get(name).skeleton(ctdir)
        backends.get(name).skeleton(ctdir)  # again: a retried receive
        want = {"rootfs", "work", "lower"} if name == "overlay" else {"rootfs"}
        assert {p.name for p in ctdir.iterdir()} == want


def test_a_restored_overlay_gets_a_fresh_work_dir(tmp_path):
    (tmp_path / "work/index").mkdir(parents=True)
    backends.get("overlay").restored(tmp_path)
    assert (tmp_path / "work").is_dir() and not any((tmp_path / "work").iterdir())
    backends.get("dir").restored(tmp_path / "nothing")  # nothing goes with a dir's data


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
