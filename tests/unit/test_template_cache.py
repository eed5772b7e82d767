"""The template cache without root: names, import (checked, atomic), list, remove, install."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from hutch.errors import AlreadyExists, NotFound, StateConflict, UsageError
from hutch.paths import Paths
from hutch.storage import cache, templates
from hutch.storage.extract import UnsafeEntry


def _tarball(path: Path, names: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tf:
        for name, data in names.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return path


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("debian-12-x86_64-minimal.tar.gz", ("debian-12-x86_64-minimal", "tar.gz")),
        ("centos-7-x86_64.tar.xz", ("centos-7-x86_64", "tar.xz")),
        ("alpine.tar.zst", ("alpine", "tar.zst")),
        ("x.tgz", ("x", "tar.gz")),
        ("plain.tar", ("plain", "tar")),
        ("notes.txt", None),
        (".tar.gz", None),
    ],
)
def test_template_name(filename, expected):
    assert cache.template_name(filename) == expected


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "-x", ".hidden", "a b", "x" * 129])
def test_invalid_names(bad):
    with pytest.raises(UsageError):
        cache.validate_name(bad)


def test_import_list_install_remove(tmp_path):
    paths = Paths(tmp_path / "root")
    src = _tarball(tmp_path / "debian-12-x86_64-minimal.tar.gz", {"etc/os-release": b"ID=x\n"})
    info, summary = cache.import_template(paths, src)
    assert (info.name, info.format, summary.entries) == ("debian-12-x86_64-minimal", "tar.gz", 1)
    assert info.file == paths.templates / "debian-12-x86_64-minimal.tar.gz"
    assert sorted(p.name for p in paths.templates.iterdir()) == [info.file.name]
    assert [t.name for t in cache.list_templates(paths)] == ["busybox", info.name]
    assert templates.available(paths) == ["busybox", info.name]

    dest = tmp_path / "ct" / "rootfs"
    templates.install(paths, info.name, dest)
    assert (dest / "etc/os-release").read_bytes() == b"ID=x\n"

    with pytest.raises(AlreadyExists):
        cache.import_template(paths, src)
    with pytest.raises(AlreadyExists):
        cache.import_template(paths, src, name="busybox")
    with pytest.raises(StateConflict):
        cache.remove_template(paths, "busybox")
    assert cache.remove_template(paths, info.name).name == info.name
    with pytest.raises(NotFound, match=r"unknown template 'debian-12-x86_64-minimal'"):
        cache.remove_template(paths, info.name)
    with pytest.raises(NotFound, match=r"available: busybox"):
        templates.install(paths, info.name, tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_unsafe_import_leaves_the_cache_as_it_was(tmp_path):
    paths = Paths(tmp_path / "root")
    src = _tarball(tmp_path / "evil.tar", {"ok": b"1", "../escape": b"2"}, "w")
    with pytest.raises(UnsafeEntry, match=r"^template evil\.tar: entry \.\./escape leaves"):
        cache.import_template(paths, src)
    assert list(paths.templates.iterdir()) == []
    assert [t.name for t in cache.list_templates(paths)] == ["busybox"]


def test_cache_ignores_strangers(tmp_path):
    paths = Paths(tmp_path / "root")
    paths.templates.mkdir(parents=True)
    (paths.templates / ".half.tar.gz.partial").write_bytes(b"")
    (paths.templates / "README").write_text("hi")
    (paths.templates / "busybox.tar.gz").write_bytes(b"")  # cannot shadow the built-in one
    (paths.templates / "dir.tar").mkdir()
    assert [t.name for t in cache.list_templates(paths)] == ["busybox"]
