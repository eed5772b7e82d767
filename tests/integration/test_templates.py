"""The template cache end to end: import a tarball, list it, create and run a container from
it, remove it; unsafe or broken archives never enter the cache, and never make a container."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from hutch.storage.busybox import build_busybox_rootfs

pytestmark = pytest.mark.root

# format -> GNU tar's compression flag (templates are made with tar, as OpenVZ's are)
TAR_FLAGS = {"tar": [], "tar.gz": ["-z"], "tar.xz": ["-J"], "tar.zst": ["--zstd"]}
FORMATS = ["tar.gz", "tar.xz"] + (["tar.zst"] if shutil.which("zstd") else [])


@pytest.fixture(scope="module")
def tarballs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The busybox template's rootfs as `bb.tar.gz`, `bb.tar.xz` (and `bb.tar.zst`)."""
    tmp = tmp_path_factory.mktemp("tarballs")
    rootfs = tmp / "rootfs"
    build_busybox_rootfs(rootfs)
    out = {}
    for fmt in ["tar", *FORMATS]:
        archive = tmp / f"bb.{fmt}"
        tar = ["tar", "--numeric-owner", "--xattrs", *TAR_FLAGS[fmt]]
        subprocess.run(
            [*tar, "-C", rootfs, "-cf", archive, "."],
            check=True,
            timeout=60,
        )
        out[fmt] = archive
    shutil.rmtree(rootfs)
    return out


def _cache_files(hutch) -> list[str]:
    d = hutch.paths.templates
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def _names(hutch) -> list[str]:
    return [t["name"] for t in hutch.json("template", "list")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_create_start_exec_remove(hutch, tarballs, fmt):
    name = f"bb-{fmt.replace('.', '-')}"
    out = hutch.json("template", "import", tarballs[fmt], "--name", name)
    assert out["name"] == name and out["format"] == fmt
    assert _cache_files(hutch) == [f"{name}.{fmt}"]

    listed = {t["name"]: t for t in hutch.json("template", "list")}
    assert listed["busybox"]["format"] == "builtin"
    assert listed[name]["format"] == fmt
    assert listed[name]["size"] == tarballs[fmt].stat().st_size
    text = hutch.ok("template", "list").stdout
    assert text.splitlines()[0].split() == ["NAME", "FORMAT", "SIZE", "MODIFIED"]
    assert any(line.split()[:2] == [name, fmt] for line in text.splitlines())

    ctid = hutch.new_id()
    hutch.ok("create", ctid, "--template", name)
    assert hutch.json("config", ctid)["template"] == name
    hutch.start(ctid)
    assert "BusyBox" in hutch.ok("exec", ctid, "cat", "/etc/os-release").stdout
    assert hutch.ok("exec", ctid, "hostname").stdout.strip() == ctid
    # the container has its own copy: removing the template does not touch it
    assert hutch.ok("template", "remove", name).stdout == f"Template {name} removed\n"
    assert name not in _names(hutch)
    assert _cache_files(hutch) == []
    assert hutch.ok("exec", ctid, "echo", "still here").stdout == "still here\n"


def test_name_from_the_file_name(hutch, tarballs, tmp_path):
    openvz = tmp_path / "busybox-1-x86_64-minimal.tar.gz"
    shutil.copyfile(tarballs["tar.gz"], openvz)
    out = hutch.ok("template", "import", openvz).stdout
    assert out.startswith("Template busybox-1-x86_64-minimal imported (tar.gz, ")
    assert "busybox-1-x86_64-minimal" in _names(hutch)
    # named after its contents, whatever the file said
    lying = tmp_path / "plain.tar.gz"
    shutil.copyfile(tarballs["tar"], lying)
    assert hutch.json("template", "import", lying)["format"] == "tar"
    assert "plain.tar" in _cache_files(hutch)
    for n in ("busybox-1-x86_64-minimal", "plain"):
        hutch.ok("template", "remove", n)
    assert _cache_files(hutch) == []


def test_unknown_and_duplicate_names(hutch, tarballs, tmp_path):
    hutch.ok("template", "import", tarballs["tar.gz"], "--name", "dup")
    msg = hutch.fails("template", "import", tarballs["tar.xz"], "--name", "dup", code=5)
    assert "template dup already exists" in msg
    assert "template busybox is built in" in hutch.fails(
        "template", "import", tarballs["tar.gz"], "--name", "busybox", code=5
    )
    assert _cache_files(hutch) == ["dup.tar.gz"]

    msg = hutch.fails("create", hutch.new_id(), "--template", "nosuch", code=4)
    assert msg == "hutch: unknown template 'nosuch' (available: busybox, dup)"
    assert hutch.container_ids() == []
    assert "unknown template 'nosuch'" in hutch.fails("template", "remove", "nosuch", code=4)
    assert "built in" in hutch.fails("template", "remove", "busybox", code=6)
    assert "invalid template name" in hutch.fails(
        "template", "import", tarballs["tar.gz"], "--name", "../x", code=2
    )
    assert "cannot tell a template name" in hutch.fails(
        "template", "import", tmp_path / "noext", code=2
    )
    assert "does not exist" in hutch.fails("template", "import", tmp_path / "no.tar.gz", code=4)
    hutch.ok("template", "remove", "dup")
    assert _names(hutch) == ["busybox"]


def _evil_tar(path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        ti = tarfile.TarInfo("etc")
        ti.type = tarfile.DIRTYPE
        tf.addfile(ti)
        ti = tarfile.TarInfo("etc/hostname")
        ti.size = 3
        tf.addfile(ti, io.BytesIO(b"ok\n"))
        ti = tarfile.TarInfo("lib")
        ti.type, ti.linkname = tarfile.SYMTYPE, "/etc"
        tf.addfile(ti)
        ti = tarfile.TarInfo("lib/passwd")
        ti.size = 5
        tf.addfile(ti, io.BytesIO(b"evil\n"))
    return path


def test_unsafe_archive_never_enters_the_cache(hutch, tmp_path):
    evil = _evil_tar(tmp_path / "evil.tar.gz")
    msg = hutch.fails("template", "import", evil, code=3)
    assert msg == (
        "hutch: template evil.tar.gz: entry lib/passwd would be written through the symlink lib"
    )
    assert _cache_files(hutch) == []  # not even a partial copy
    assert _names(hutch) == ["busybox"]


def test_unsafe_template_dropped_in_by_hand_makes_no_container(hutch, tmp_path):
    """The cache directory is also where people put OpenVZ templates by hand: those are held
    to the same checks when a container is made from them, and a refusal leaves nothing."""
    hutch.paths.templates.mkdir(parents=True, exist_ok=True)
    _evil_tar(hutch.paths.templates / "handmade.tar.gz")
    try:
        ctid = hutch.new_id()
        msg = hutch.fails("create", ctid, "--template", "handmade", code=3)
        assert "entry lib/passwd would be written through the symlink lib" in msg
        assert hutch.container_ids() == []
        assert list(hutch.paths.containers.iterdir()) == []  # no .ID.creating either
        assert not Path("/etc/passwd").read_text().startswith("evil")
    finally:
        (hutch.paths.templates / "handmade.tar.gz").unlink()


def test_corrupt_archive_is_refused(hutch, tarballs, tmp_path):
    cut = tmp_path / "cut.tar.xz"
    cut.write_bytes(tarballs["tar.xz"].read_bytes()[:-4096])
    assert "corrupt" in hutch.fails("template", "import", cut, code=3)
    assert _cache_files(hutch) == []


def test_list_json_is_stable(hutch):
    data = json.loads(hutch.ok("template", "list", "--json").stdout)
    assert data == [
        {"name": "busybox", "format": "builtin", "file": None, "size": None, "mtime": None}
    ]
