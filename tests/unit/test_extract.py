"""Template extraction: unsafe archives are refused whole, good ones are unpacked faithfully.

Archives are built here with tarfile (entries the host could never hold, such as `../x` or a
block device, can still be written into an archive). Only unpacking a device node needs root.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from hutch.errors import AlreadyExists, InvalidConfig
from hutch.storage.extract import BadArchive, UnsafeEntry, check, detect_format, extract

MTIME = 1_600_000_000
HAVE_ZSTD = shutil.which("zstd") is not None


# -- building archives ------------------------------------------------------------------------


def _info(name: str, type_: bytes, mode: int = 0o644, **kw: object) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.mtime = MTIME
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def d(name: str, mode: int = 0o755, **kw: object) -> tuple[tarfile.TarInfo, bytes | None]:
    return _info(name, tarfile.DIRTYPE, mode, **kw), None


def f(name: str, data: bytes = b"", mode: int = 0o644, **kw: object):
    ti = _info(name, tarfile.REGTYPE, mode, **kw)
    ti.size = len(data)
    return ti, data


def sym(name: str, target: str):
    return _info(name, tarfile.SYMTYPE, 0o777, linkname=target), None


def hard(name: str, target: str):
    return _info(name, tarfile.LNKTYPE, 0o644, linkname=target), None


def dev(name: str, major: int, minor: int, block: bool = False, mode: int = 0o666):
    kind = tarfile.BLKTYPE if block else tarfile.CHRTYPE
    return _info(name, kind, mode, devmajor=major, devminor=minor), None


def fifo(name: str):
    return _info(name, tarfile.FIFOTYPE, 0o600), None


def build(path: Path, entries, fmt: str = "tar") -> Path:
    """Write `entries` as a pax archive `path` + '.' + fmt."""
    out = path.with_name(f"{path.name}.{fmt}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    if fmt == "tar":
        out.write_bytes(raw)
    elif fmt == "tar.gz":
        out.write_bytes(gzip.compress(raw))
    elif fmt == "tar.xz":
        import lzma

        out.write_bytes(lzma.compress(raw))
    elif fmt == "tar.zst":
        out.write_bytes(subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True).stdout)
    return out


def leftovers(tmp_path: Path, archive: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p != archive)


# -- refused ----------------------------------------------------------------------------------

UNSAFE = {
    "dotdot": ([f("../etc/passwd", b"x")], "../etc/passwd", "leaves the root"),
    "dotdot-inside": ([d("a"), f("a/../../x", b"x")], "a/../../x", "leaves the root"),
    "absolute": ([f("/etc/passwd", b"x")], "/etc/passwd", "is an absolute path"),
    "symlink-up": ([sym("a", "../../..")], "a", "which leaves the root"),
    "symlink-up-deep": ([d("x"), d("x/y"), sym("x/y/up", "../../../etc")], "x/y/up", "leaves"),
    "symlink-absolute-up": ([sym("a", "/../etc")], "a", "leaves the root"),
    # each link alone stays inside; through the other it climbs out
    "symlink-chain": ([d("d"), sym("d/b", ".."), sym("a", "d/b/..")], "a", "leaves the root"),
    "symlink-chain-later": ([sym("a", "d/b/.."), d("d"), sym("d/b", "..")], "a", "leaves"),
    # a hard link moves a symlink to another directory, where its target means more `..`
    "hardlink-moves-symlink": (
        [d("a"), d("a/b"), sym("a/b/s", "../.."), hard("s2", "a/b/s")],
        "s2",
        "leaves the root",
    ),
    "through-symlink": ([sym("lib", "/etc"), f("lib/x", b"x")], "lib/x", "through the symlink lib"),
    "through-relative-symlink": (
        [d("real"), sym("lib", "real"), f("lib/x", b"x")],
        "lib/x",
        "through the symlink lib",
    ),
    "through-symlink-deep": (
        [sym("lib", "/etc"), d("lib/sub"), f("lib/sub/x", b"x")],
        "lib/sub",
        "through the symlink lib",
    ),
    "hardlink-outside": ([hard("h", "../../etc/shadow")], "h", "leaves the root"),
    "hardlink-absolute": ([hard("h", "/etc/shadow")], "h", "is an absolute path"),
    "hardlink-not-yet": ([hard("h", "later"), f("later", b"x")], "h", "not an earlier file"),
    "hardlink-to-dir": ([d("dir"), hard("h", "dir")], "h", "not an earlier file"),
    "block-device": ([d("dev"), dev("dev/sda", 8, 0, block=True)], "dev/sda", "block device 8:0"),
    "char-device-mem": ([dev("mem", 1, 1)], "mem", "character device 1:1"),
    "char-device-kmsg": ([dev("kmsg", 1, 11)], "kmsg", "character device 1:11"),
    "replace-directory": ([d("x"), f("x", b"x")], "x", "would replace a directory"),
    "below-a-file": ([f("x", b"x"), f("x/y", b"y")], "x/y", "not a directory"),
}


def _overlay_xattr():
    ti, data = f("opaque", b"x")
    ti.pax_headers = {"SCHILY.xattr.trusted.overlay.opaque": "y"}
    return [(ti, data)]


UNSAFE["overlay-xattr"] = (_overlay_xattr(), "opaque", "trusted.overlay.opaque")


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_archive_is_refused_and_leaves_nothing(case, tmp_path):
    entries, member, reason = UNSAFE[case]
    # good entries around the bad one: the refusal must undo what was already written
    archive = build(tmp_path / "evil", [d("etc"), f("etc/ok", b"ok"), *entries, f("zz", b"z")])
    dest = tmp_path / "rootfs"
    with pytest.raises(UnsafeEntry) as e:
        extract(archive, dest)
    assert isinstance(e.value, InvalidConfig)
    assert str(e.value).startswith(f"template evil.tar: entry {member} ")
    assert reason in str(e.value)
    assert e.value.member == member
    assert not dest.exists() and not dest.is_symlink()
    assert leftovers(tmp_path, archive) == []  # no staging directory either
    with pytest.raises(UnsafeEntry) as e2:
        check(archive)
    assert str(e2.value) == str(e.value)


def test_message_names_archive_and_member(tmp_path):
    archive = build(tmp_path / "foo", [f("../etc/passwd", b"x")], "tar.gz")
    with pytest.raises(UnsafeEntry, match=r"^template foo\.tar\.gz: entry \.\./etc/passwd leaves"):
        extract(archive, tmp_path / "r")


def test_nothing_reaches_the_target_of_a_symlink(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = build(tmp_path / "evil", [sym("lib", str(outside)), f("lib/pwned", b"x")])
    with pytest.raises(UnsafeEntry):
        extract(archive, tmp_path / "r")
    assert list(outside.iterdir()) == []


# -- accepted ---------------------------------------------------------------------------------

GOOD = [
    d(".", 0o755),
    d("bin"),
    f("bin/busybox", b"\x7fELF busybox", 0o4755),
    sym("bin/sh", "/bin/busybox"),  # absolute, inside the root
    sym("sbin", "bin"),
    hard("bin/hard", "bin/busybox"),
    d("etc"),
    sym("etc/localtime", "/usr/share/zoneinfo/UTC"),  # names a later entry
    f("usr/share/zoneinfo/UTC", b"TZif2"),  # parents implied
    d("var"),
    sym("var/run", "../run"),
    d("run", 0o755),
    sym("loop", "loop"),  # ELOOP for the kernel, harmless
    sym("root-link", "/"),
    sym("down-up", "bin/../etc"),
    fifo("run/initctl"),
    d("ro", 0o555),
    f("ro/file", b"read-only dir", 0o444),
    f("dup", b"first"),
    f("dup", b"second"),  # later entries win, as with tar
    d("tmp", 0o1777),
]


def _with_xattr(entries):
    out = []
    for ti, data in entries:
        if ti.name == "bin/busybox":
            ti.pax_headers = {"SCHILY.xattr.user.hutch": "1"}
        out.append((ti, data))
    return out


FORMATS = ["tar", "tar.gz", "tar.xz"] + (["tar.zst"] if HAVE_ZSTD else [])


@pytest.mark.parametrize("fmt", FORMATS)
def test_good_archive_is_unpacked_faithfully(fmt, tmp_path):
    archive = build(tmp_path / "good", _with_xattr(GOOD), fmt)
    assert detect_format(archive) == fmt
    calls: list[tuple[int, int]] = []
    dest = tmp_path / "rootfs"
    summary = extract(archive, dest, progress=lambda done, total: calls.append((done, total)))
    assert summary.format == fmt and summary.entries == len(GOOD)
    assert calls and calls[-1] == (archive.stat().st_size, archive.stat().st_size)
    assert leftovers(tmp_path, archive) == ["rootfs"]

    bb = dest / "bin/busybox"
    assert bb.read_bytes() == b"\x7fELF busybox"
    assert stat.S_IMODE(bb.stat().st_mode) == 0o4755
    assert bb.stat().st_mtime == MTIME
    assert os.getxattr(bb, "user.hutch") == b"1"
    assert os.readlink(dest / "bin/sh") == "/bin/busybox"
    assert os.readlink(dest / "etc/localtime") == "/usr/share/zoneinfo/UTC"
    assert os.readlink(dest / "var/run") == "../run"
    assert os.readlink(dest / "root-link") == "/"
    assert (dest / "bin/hard").stat().st_ino == bb.stat().st_ino
    assert bb.stat().st_nlink == 2
    assert stat.S_ISFIFO((dest / "run/initctl").lstat().st_mode)
    assert (dest / "usr/share/zoneinfo/UTC").read_bytes() == b"TZif2"
    assert stat.S_IMODE((dest / "usr/share").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "ro").stat().st_mode) == 0o555
    assert stat.S_IMODE((dest / "tmp").stat().st_mode) == 0o1777
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert (dest / "ro").stat().st_mtime == MTIME  # set after its file was written
    assert (dest / "dup").read_bytes() == b"second"
    assert os.lstat(dest / "bin/sh").st_mtime == MTIME
    check(archive)  # the dry run agrees


@pytest.mark.root  # device nodes, owners and security.* attributes need root
def test_owners_and_devices_as_root(tmp_path):
    entries = [
        d("."),
        d("home", uid=1000, gid=1000),
        f("home/suid", b"x", 0o6750, uid=1000, gid=50),
        sym("home/link", "suid"),
        d("dev"),
        dev("dev/null", 1, 3),
        dev("dev/console", 5, 1, mode=0o600),
        dev("dev/ptmx", 5, 2),
    ]
    entries[3][0].uid, entries[3][0].gid = 1000, 1001
    dest = tmp_path / "rootfs"
    extract(build(tmp_path / "own", entries), dest)
    st = (dest / "home/suid").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 50, 0o6750)
    assert ((dest / "home").stat().st_uid, (dest / "home").stat().st_gid) == (1000, 1000)
    assert ((dest / "home/link").lstat().st_uid, (dest / "home/link").lstat().st_gid) == (
        1000,
        1001,
    )
    null = (dest / "dev/null").lstat()
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_IMODE((dest / "dev/console").lstat().st_mode) == 0o600


@pytest.mark.root  # device nodes, owners and security.* attributes need root
def test_file_capabilities_from_gnu_tar(tmp_path):
    """GNU tar's own pax headers (SCHILY.xattr.security.capability) come through."""
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    ping = src / "bin/ping"
    ping.write_bytes(b"ping")
    # VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, permitted = CAP_NET_RAW (13)
    cap = (0x02000001).to_bytes(4, "little") + (1 << 13).to_bytes(4, "little") + bytes(12)
    os.setxattr(ping, "security.capability", cap)
    os.chmod(ping, 0o755)
    archive = tmp_path / "caps.tar.gz"
    tar = ["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner"]
    subprocess.run(
        [*tar, "-C", src, "-czf", archive, "."],
        check=True,
    )
    dest = tmp_path / "rootfs"
    extract(archive, dest)
    assert os.getxattr(dest / "bin/ping", "security.capability") == cap
    assert stat.S_IMODE((dest / "bin/ping").stat().st_mode) == 0o755


# -- broken archives and bad destinations -----------------------------------------------------


def test_truncated_archive_leaves_nothing(tmp_path):
    good = build(tmp_path / "good", [d("a"), f("a/big", os.urandom(200_000))], "tar.gz")
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(good.read_bytes()[:-5000])
    good.unlink()
    with pytest.raises(BadArchive, match=r"^template cut\.tar\.gz: corrupt"):
        extract(archive, tmp_path / "rootfs")
    assert leftovers(tmp_path, archive) == []
    with pytest.raises(BadArchive):
        check(archive)


def test_bad_crc_is_noticed(tmp_path):
    archive = build(tmp_path / "crc", [f("a", b"hello world" * 100)], "tar.gz")
    data = bytearray(archive.read_bytes())
    data[-8] ^= 0xFF  # the gzip trailer's CRC32
    archive.write_bytes(bytes(data))
    with pytest.raises(BadArchive, match="corrupt"):
        check(archive)
    with pytest.raises(BadArchive):
        extract(archive, tmp_path / "rootfs")
    assert leftovers(tmp_path, archive) == []


@pytest.mark.skipif(not HAVE_ZSTD, reason="zstd is not installed")
def test_corrupt_zstd(tmp_path):
    good = build(tmp_path / "z", [f("a", os.urandom(300_000))], "tar.zst")
    archive = tmp_path / "cut.tar.zst"
    archive.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    good.unlink()
    with pytest.raises(BadArchive, match="corrupt"):
        extract(archive, tmp_path / "rootfs")
    assert leftovers(tmp_path, archive) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text\n" * 100, "not a tar archive"),
        (gzip.compress(b"not a tar inside" * 100), "corrupt or not a tar archive"),
        (b"BZh91AY&SY" + bytes(600), "bzip2"),
        (gzip.compress(bytes(10240)), "no entries"),
    ],
)
def test_not_a_template(content, message, tmp_path):
    archive = tmp_path / "junk.tar"
    archive.write_bytes(content)
    with pytest.raises(BadArchive, match=message):
        extract(archive, tmp_path / "rootfs")
    assert leftovers(tmp_path, archive) == []


def test_destination_must_be_new(tmp_path):
    archive = build(tmp_path / "a", [f("x", b"x")])
    dest = tmp_path / "rootfs"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    with pytest.raises(AlreadyExists):
        extract(archive, dest)
    assert (dest / "keep").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    extract(archive, empty)  # an empty directory is replaced, like the busybox builder does
    assert (empty / "x").read_bytes() == b"x"


def test_a_later_directory_replaces_a_symlink(tmp_path):
    """As with tar: the later entry wins, and what follows lands in the new directory."""
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = build(tmp_path / "a", [sym("lib", str(outside)), d("lib"), f("lib/x", b"x")])
    dest = tmp_path / "rootfs"
    extract(archive, dest)
    assert (dest / "lib").is_dir() and not (dest / "lib").is_symlink()
    assert (dest / "lib/x").read_bytes() == b"x"
    assert list(outside.iterdir()) == []


def test_symlink_attributes_are_not_user_ones(tmp_path):
    ti, _ = sym("link", "target")
    ti.pax_headers = {"SCHILY.xattr.user.x": "1"}
    dest = tmp_path / "rootfs"
    extract(build(tmp_path / "a", [(ti, None)]), dest)  # the kernel refuses user.* there
    assert os.readlink(dest / "link") == "target"


# -- bombs: what a template may unpack to is bounded (issue 12 item 9) -------------------------


def _bomb(path: Path, compress) -> Path:
    """A tar whose one member declares 100 GiB: the header, a little data, xz'd or gz'd."""
    ti = tarfile.TarInfo("zeros")
    ti.size = 100 << 30
    ti.mtime = MTIME
    path.write_bytes(compress(ti.tobuf(format=tarfile.GNU_FORMAT) + bytes(1 << 16)))
    return path


@pytest.mark.parametrize("suffix", ["tar.xz", "tar.gz"])
def test_a_member_declaring_a_huge_size_is_refused_before_writing(tmp_path, suffix):
    import lzma

    compress = lzma.compress if suffix == "tar.xz" else gzip.compress
    archive = _bomb(tmp_path / f"bomb.{suffix}", compress)
    assert archive.stat().st_size < 4096  # tiny, and it claims 100 GiB
    with pytest.raises(UnsafeEntry, match=r"entry zeros takes the files' data over 32\.0 GiB"):
        extract(archive, tmp_path / "out")
    assert leftovers(tmp_path, archive) == []


def test_a_sparse_member_counts_at_its_full_size(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "lastlog", "wb") as fh:
        fh.truncate(40 << 30)  # 40 GiB of holes: written out whole it would fill the disk
    archive = tmp_path / "sparse.tar.gz"
    subprocess.run(["tar", "-C", str(src), "-S", "-czf", str(archive), "lastlog"], check=True)
    shutil.rmtree(src)
    assert archive.stat().st_size < 1 << 20
    with pytest.raises(UnsafeEntry, match=r"lastlog takes the files' data over .*sparse"):
        extract(archive, tmp_path / "out")
    assert leftovers(tmp_path, archive) == []


def test_a_compression_bomb_is_stopped_by_the_ratio(tmp_path):
    import lzma

    from hutch.storage.extract import Caps

    # 8 MiB of zeros in one member packs to ~1 KiB with xz: some 7000:1
    archive = build(tmp_path / "ratio", [f("zeros", bytes(8 << 20))], "tar.xz")
    assert lzma.decompress(archive.read_bytes())  # a valid archive, only a bomb
    caps = Caps(max_ratio=200, ratio_floor=1 << 20)
    with pytest.raises(BadArchive, match=r"decompresses to more than 200 times its size"):
        extract(archive, tmp_path / "out", caps=caps)
    assert leftovers(tmp_path, archive) == []
    with pytest.raises(BadArchive, match="compression bomb"):
        check(archive, caps=caps)
    # the same archive under the default floor (64 MiB) is an ordinary small template
    assert check(archive).size == 8 << 20


def test_too_many_entries_are_refused(tmp_path):
    from hutch.storage.extract import Caps

    archive = build(tmp_path / "many", [f(f"f{i}", b"") for i in range(101)], "tar.gz")
    with pytest.raises(BadArchive, match=r"more than 100 entries"):
        extract(archive, tmp_path / "out", caps=Caps(max_entries=100))
    assert leftovers(tmp_path, archive) == []
    assert check(archive, caps=Caps(max_entries=101)).entries == 101


def test_data_after_the_end_counts_too(tmp_path):
    from hutch.storage.extract import Caps

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti, data = f("a", b"x")
        tf.addfile(ti, io.BytesIO(data))
    archive = tmp_path / "tail.tar.gz"
    archive.write_bytes(gzip.compress(buf.getvalue() + bytes(4 << 20)))
    caps = Caps(max_bytes=1 << 20, max_entries=10, max_ratio=10**9)
    with pytest.raises(BadArchive, match=r"decompresses to more than"):
        check(archive, caps=caps)
