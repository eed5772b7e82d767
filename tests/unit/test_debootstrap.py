"""The Debian template build's pure parts: release names, the mirror, the fix-up plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from hutch.errors import UsageError
from hutch.storage import debootstrap as db


def test_releases_and_template_name():
    spec = db.BuildSpec("debian-12")
    assert spec.suite == "bookworm"
    assert spec.template_name == f"debian-12-{spec.arch}-minimal"
    assert db.BuildSpec("debian-13", name="web").template_name == "web"
    with pytest.raises(UsageError, match="unknown release"):
        db.validate(db.BuildSpec("debian-7"))
    with pytest.raises(UsageError, match="invalid package"):
        db.validate(db.BuildSpec("debian-12", packages=("cron;rm",)))


def test_default_mirror_follows_the_hosts_apt(tmp_path: Path):
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\n# URIs: http://wrong/debian\nURIs: http://mirror.example/debian/\n"
        "Suites: bookworm\n"
    )
    one_line = tmp_path / "sources.list"
    one_line.write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    other = tmp_path / "x.list"
    other.write_text("deb https://packages.cloud.google.com/apt cloud-sdk main\n")
    assert db.default_mirror([other, deb822, one_line]) == "http://mirror.example/debian"
    assert db.default_mirror([one_line]) == "http://other.example/debian"
    assert db.default_mirror([other, tmp_path / "missing"]) == db.FALLBACK_MIRROR


def test_fixup_plan_masks_hardware_units_and_keeps_the_console():
    plan = db.fixup_plan("bookworm", "http://m/debian", ["openssh-server"])
    masked = {op.unit for op in plan if isinstance(op, db.MaskUnit)}
    assert {"getty@.service", "serial-getty@.service", "systemd-udevd.service"} <= masked
    assert "console-getty.service" not in masked
    assert not any("container-getty" in u for u in masked)
    described = [op.describe() for op in plan]
    assert "lock root's password" in described
    assert "write /etc/systemd/system/hutch-ssh-keygen.service" in described
    assert not any("ssh" in d for d in (o.describe() for o in db.fixup_plan("bookworm", "m")))


def test_fixups_on_a_tree(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/shadow").write_text("root:*:19000:0:99999:7:::\nbin:*:19000::::::\n")
    (tmp_path / "etc/machine-id").write_text("0123\n")
    (tmp_path / "etc/rsyslog.conf").write_text('module(load="imuxsock")\nmodule(load="imklog")\n')
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/null").write_text("")
    for op in db.fixup_plan("bookworm", "http://m/debian"):
        op.execute(tmp_path)
    assert (tmp_path / "etc/shadow").read_text().startswith("root:!*:")
    assert (tmp_path / "etc/machine-id").read_text() == ""
    assert (tmp_path / "etc/rsyslog.conf").read_text().endswith('#module(load="imklog")\n')
    assert list((tmp_path / "dev").iterdir()) == []
    assert (tmp_path / "etc/systemd/system/getty@.service").readlink() == Path("/dev/null")
    assert "deb http://m/debian bookworm main" in (tmp_path / "etc/apt/sources.list").read_text()


def test_fixups_stay_inside_the_tree(tmp_path: Path):
    """A package may have planted links in the tree: the fix-ups resolve inside it (issue 12
    item 2), so nothing outside is emptied, written or read."""
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    (tree / "etc").mkdir(parents=True)
    outside.mkdir()
    (outside / "keep.log").write_text("host log\n")
    (outside / "fstab").write_text("host fstab\n")
    (tree / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (tree / "var").mkdir()
    (tree / "var/log").symlink_to(str(outside))  # absolute: resolves inside the tree
    (tree / "etc/fstab").symlink_to(str(outside / "fstab"))
    (tree / "etc/rsyslog.conf").symlink_to(str(outside / "fstab"))
    for op in db.fixup_plan("bookworm", "http://m/debian"):
        op.execute(tree)
    assert (outside / "keep.log").read_text() == "host log\n"
    assert (outside / "fstab").read_text() == "host fstab\n"
    assert not (tree / "etc/fstab").is_symlink()
    assert "hutch" in (tree / "etc/fstab").read_text()
