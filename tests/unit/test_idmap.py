"""hutch.security.idmap: root's subordinate ranges, blocks, allocation, file capabilities,
and shifting a tree's owners (as root, on a real tree)."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest

from hutch.errors import InvalidConfig, KernelFeatureMissing
from hutch.security import idmap
from hutch.security.idmap import SIZE, IdMap, allocate, blocks, shift_caps, shift_tree

BASE = 1_000_000


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- IdMap --------------------------------------------------------------------------------


def test_map_text_and_translation():
    m = IdMap(BASE)
    assert m.map_text() == f"0 {BASE} {SIZE}\n"
    assert m.to_host(0) == BASE and m.to_host(1000) == BASE + 1000
    assert m.to_host(SIZE) == BASE + idmap.OVERFLOW  # outside the map: nobody
    assert m.to_container(BASE + 33) == 33
    assert m.to_container(0) == idmap.OVERFLOW
    assert idmap.to_host(None, 5) == 5 and idmap.to_container(None, 5) == 5


def test_of_and_privileged():
    assert idmap.of(True, BASE) is None
    assert idmap.of(False, None) is None  # made before user namespaces: host IDs
    assert idmap.of(False, BASE) == IdMap(BASE)


# -- /etc/subuid, /etc/subgid -------------------------------------------------------------


def test_a_privileged_container_gets_the_identity_map():
    # IDs not shifted, but a user namespace all the same (issue 12 item 5)
    assert idmap.userns_map(None) is idmap.IDENTITY
    assert idmap.IDENTITY.map_text() == "0 0 4294967295\n"
    assert [idmap.IDENTITY.to_host(i) for i in (0, 5, 1000000, 4294967294)] == [
        0,
        5,
        1000000,
        4294967294,
    ]
    assert idmap.IDENTITY.to_container(65536) == 65536
    shifted = IdMap(1000000)
    assert idmap.userns_map(shifted) is shifted


def test_subordinate_ranges_by_name_and_number(tmp_path):
    path = write(
        tmp_path,
        "subuid",
        "# root's ranges\n"
        "\n"
        "root:100000:65536\n"
        "alice:165536:65536\n"
        "  0:300000:131072  \n"
        "#root:1:2\n",
    )
    assert idmap.subordinate_ranges(path) == [(100000, 65536), (300000, 131072)]
    assert idmap.subordinate_ranges(path, "alice", 1000) == [(165536, 65536)]
    assert idmap.subordinate_ranges(path, "bob", 1001) == []


def test_subordinate_ranges_without_the_file(tmp_path):
    assert idmap.subordinate_ranges(tmp_path / "absent") == []


@pytest.mark.parametrize(
    "bad", ["root:abc:65536", "root:100000", "root:1:2:3", "root:-5:10", "just a line"]
)
def test_a_malformed_line_names_file_and_line(tmp_path, bad):
    path = write(tmp_path, "subuid", f"# ok\nalice:165536:65536\n{bad}\n")
    with pytest.raises(InvalidConfig) as e:
        idmap.subordinate_ranges(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:3: ") and "\n" not in msg, msg
    assert bad.strip() in msg


def test_blocks_lie_in_both_uid_and_gid_ranges(tmp_path):
    subuid = write(tmp_path, "subuid", "root:1000000:200000\n")
    subgid = write(tmp_path, "subgid", "root:1065536:1000000\n")
    # uid [1000000, 1200000) and gid [1065536, 2065536) share [1065536, 1200000): two blocks
    assert blocks(subuid, subgid) == [1065536, 1065536 + SIZE]


def test_blocks_of_several_ranges_are_sorted_and_unique(tmp_path):
    subuid = write(tmp_path, "subuid", "root:500000:65536\nroot:100000:131072\n")
    subgid = write(tmp_path, "subgid", "0:0:1000000\nroot:100000:65536\n")
    assert blocks(subuid, subgid) == [100000, 100000 + SIZE, 500000]


def test_blocks_need_a_whole_block(tmp_path):
    subuid = write(tmp_path, "subuid", "root:100000:65535\n")
    subgid = write(tmp_path, "subgid", "root:100000:65536\n")
    assert blocks(subuid, subgid) == []
    assert blocks(tmp_path / "none", subgid) == []


def test_allocate_shared_and_isolated(tmp_path):
    subuid = write(tmp_path, "subuid", f"root:{BASE}:{4 * SIZE}\n")
    subgid = write(tmp_path, "subgid", f"root:{BASE}:{4 * SIZE}\n")
    assert allocate("shared", set(), subuid, subgid) == BASE
    assert allocate("shared", {BASE}, subuid, subgid) == BASE  # shared by all
    # isolated: never the shared block, the first one nobody holds
    assert allocate("isolated", set(), subuid, subgid) == BASE + SIZE
    assert allocate("isolated", {BASE + SIZE}, subuid, subgid) == BASE + 2 * SIZE
    assert allocate("isolated", {BASE + SIZE, BASE + 2 * SIZE}, subuid, subgid) == BASE + 3 * SIZE


def test_allocate_exhausted(tmp_path):
    subuid = write(tmp_path, "subuid", f"root:{BASE}:{3 * SIZE}\n")
    subgid = write(tmp_path, "subgid", f"root:{BASE}:{3 * SIZE}\n")
    with pytest.raises(KernelFeatureMissing) as e:
        allocate("isolated", {BASE + SIZE, BASE + 2 * SIZE}, subuid, subgid)
    assert str(subuid) in e.value.message and "in use" in e.value.message
    assert e.value.hint and str(subuid) in e.value.hint and str(subgid) in e.value.hint
    assert "\n" not in str(e.value)


def test_allocate_without_a_range(tmp_path):
    subuid = write(tmp_path, "subuid", "alice:100000:65536\n")
    with pytest.raises(KernelFeatureMissing) as e:
        allocate("shared", set(), subuid, tmp_path / "subgid")
    msg = e.value.message
    assert str(subuid) in msg and str(tmp_path / "subgid") in msg, msg
    assert e.value.hint is not None
    assert "root:1000000:1000000000" in e.value.hint and "--privileged" in e.value.hint
    assert "\n" not in str(e.value)


# -- file capabilities --------------------------------------------------------------------

CAP_NET_RAW = 13
CAP_NET_BIND_SERVICE = 10
EFFECTIVE = 0x000001  # VFS_CAP_FLAGS_EFFECTIVE


def caps_v2(permitted: int, inheritable: int = 0, flags: int = EFFECTIVE) -> bytes:
    """What setcap writes as the host's root: VFS_CAP_REVISION_2, 20 bytes."""
    return struct.pack(
        "<IIIII", 0x02000000 | flags, permitted & 0xFFFFFFFF, inheritable, permitted >> 32, 0
    )


def revision(value: bytes) -> int:
    return struct.unpack_from("<I", value)[0] >> 24


def test_shift_caps_v2_becomes_v3_with_the_rootid():
    v2 = caps_v2(1 << CAP_NET_RAW)
    v3 = shift_caps(v2, None, IdMap(BASE))
    assert len(v3) == 24 and revision(v3) == 3
    assert struct.unpack_from("<I", v3)[0] & 0xFFFFFF == EFFECTIVE  # flags kept
    assert v3[4:20] == v2[4:20]  # the sets are untouched
    assert struct.unpack_from("<I", v3, 20)[0] == BASE


def test_shift_caps_v3_back_to_v2_for_privileged():
    v2 = caps_v2(1 << CAP_NET_BIND_SERVICE, inheritable=1 << CAP_NET_RAW)
    v3 = shift_caps(v2, None, IdMap(BASE))
    assert shift_caps(v3, IdMap(BASE), None) == v2


def test_shift_caps_between_maps_and_without_effective():
    v2 = caps_v2(1 << CAP_NET_RAW, flags=0)
    v3 = shift_caps(v2, None, IdMap(BASE))
    moved = shift_caps(v3, IdMap(BASE), IdMap(BASE + SIZE))
    assert revision(moved) == 3 and struct.unpack_from("<I", moved)[0] & 0xFFFFFF == 0
    assert struct.unpack_from("<I", moved, 20)[0] == BASE + SIZE
    assert moved[4:20] == v2[4:20]


def test_shift_caps_leaves_v1_and_unknown_alone():
    v1 = struct.pack("<II", 0x01000000, 1 << CAP_NET_RAW)
    assert shift_caps(v1, None, IdMap(BASE)) == v1
    short = struct.pack("<I", 0x03000000) + bytes(12)  # a v3 header on a short value
    assert shift_caps(short, None, IdMap(BASE)) == short


# -- shift_tree, as root on a real tree ----------------------------------------------------


def _owner(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def _tree(top: Path, outside: Path) -> dict[str, tuple[int, int]]:
    """A small root filesystem; returns each entry's owner (relative path -> (uid, gid))."""
    top.mkdir()
    (top / "etc").mkdir()
    (top / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (top / "home/user").mkdir(parents=True)
    os.chown(top / "home/user", 1000, 1000)
    (top / "home/user/notes").write_text("x")
    os.chown(top / "home/user/notes", 1000, 100)
    (top / "bin").mkdir()
    su = top / "bin/su"
    su.write_bytes(b"\x7fELF su")
    os.chmod(su, 0o4755)
    wall = top / "bin/wall"
    wall.write_bytes(b"\x7fELF wall")
    os.chown(wall, 0, 5)
    os.chmod(wall, 0o2755)
    ping = top / "bin/ping"
    ping.write_bytes(b"\x7fELF ping")
    os.chmod(ping, 0o755)
    os.setxattr(ping, idmap.XATTR_CAPS, caps_v2(1 << CAP_NET_RAW))
    # links that lead out of the tree: changed themselves, never followed
    outside.mkdir()
    (outside / "file").write_text("host")
    (outside / "dir").mkdir()
    (outside / "dir/inner").write_text("host")
    (top / "bin/escape").symlink_to(outside / "file")
    (top / "etc/escape-dir").symlink_to(outside / "dir")
    os.lchown(top / "etc/escape-dir", 1000, 1000)
    (top / "dangling").symlink_to("/nonexistent/target")
    return _owners(top)


def _owners(top: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(top)) if p != top else ".": _owner(p)
        for p in [top, *sorted(top.rglob("*"))]
    }


def _shifted(owners: dict[str, tuple[int, int]], m: IdMap) -> dict[str, tuple[int, int]]:
    return {k: (m.to_host(u), m.to_host(g)) for k, (u, g) in owners.items()}


@pytest.mark.root
def test_shift_tree_gives_the_tree_to_the_map_and_back(tmp_path):
    top, outside = tmp_path / "rootfs", tmp_path / "host"
    before = _tree(top, outside)
    outside_before = _owners(outside)
    m = IdMap(BASE)

    n = shift_tree(str(top), None, m)
    assert n == len(before)  # every entry changed, and was counted once
    assert _owners(top) == _shifted(before, m)
    assert _owner(top / "home/user/notes") == (BASE + 1000, BASE + 100)
    # what the symlinks lead to is not touched, nor entered
    assert _owners(outside) == outside_before
    # setuid and setgid bits survive the chown, which clears them
    assert stat.S_IMODE((top / "bin/su").stat().st_mode) == 0o4755
    assert stat.S_IMODE((top / "bin/wall").stat().st_mode) == 0o2755
    assert stat.S_IMODE((top / "home/user").stat().st_mode) == 0o755
    # the file capability survives, rewritten for the namespace's root
    caps = os.getxattr(top / "bin/ping", idmap.XATTR_CAPS)
    assert caps == shift_caps(caps_v2(1 << CAP_NET_RAW), None, m)
    assert revision(caps) == 3 and struct.unpack_from("<I", caps, 20)[0] == BASE
    assert (top / "etc/passwd").read_text().startswith("root:")

    assert shift_tree(str(top), m, m) == 0  # nothing to do

    # to another block, and back to the host's IDs (a privileged container)
    other = IdMap(BASE + SIZE)
    assert shift_tree(str(top), m, other) == len(before)
    assert _owners(top) == _shifted(before, other)
    assert struct.unpack_from("<I", os.getxattr(top / "bin/ping", idmap.XATTR_CAPS), 20)[0] == (
        BASE + SIZE
    )
    assert shift_tree(str(top), other, None) == len(before)
    assert _owners(top) == before
    assert os.getxattr(top / "bin/ping", idmap.XATTR_CAPS) == caps_v2(1 << CAP_NET_RAW)
    assert stat.S_IMODE((top / "bin/su").stat().st_mode) == 0o4755
    assert stat.S_IMODE((top / "bin/wall").stat().st_mode) == 0o2755
    assert _owners(outside) == outside_before


@pytest.mark.root
def test_shift_tree_counts_only_what_changed(tmp_path):
    top = tmp_path / "rootfs"
    top.mkdir()
    (top / "a").write_text("a")
    (top / "b").write_text("b")
    os.chown(top / "b", BASE + 7, BASE + 7)  # already the container's uid 7
    m = IdMap(BASE)
    # b looks like a host ID outside the map: it is shifted too (to the overflow ID)
    assert shift_tree(str(top), None, m) == 3
    assert _owner(top / "a") == (BASE, BASE)
    assert shift_tree(str(top / "a"), m, m) == 0
    assert shift_tree(str(top / "a"), m, None) == 1  # a file as the top works too
    assert _owner(top / "a") == (0, 0)


def _shift_with_a_mount(top: str) -> dict[str, object]:  # pragma: no cover - worker
    """In a worker: a tmpfs mounted inside the tree (a private mount namespace, gone with
    the worker); shift the tree; what became of the other file system."""
    from hutch.linux import syscalls as sc

    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    mnt = os.path.join(top, "mnt")
    sc.mount("tmpfs", mnt, "tmpfs", 0, "mode=755")
    with open(os.path.join(mnt, "inside"), "w") as f:
        f.write("other fs")
    os.mkdir(os.path.join(mnt, "sub"))
    count = shift_tree(top, None, IdMap(BASE))
    return {
        "count": count,
        "inside": list(_owner(Path(mnt, "inside"))),
        "sub": list(_owner(Path(mnt, "sub"))),
        "file": list(_owner(Path(top, "file"))),
        "mnt": list(_owner(Path(mnt))),
    }


@pytest.mark.root
def test_shift_tree_stays_on_its_file_system(tmp_path):
    from hutch.linux.worker import run_in_worker

    top = tmp_path / "rootfs"
    top.mkdir()
    (top / "mnt").mkdir()
    (top / "file").write_text("x")
    out = run_in_worker(_shift_with_a_mount, str(top))
    assert out["file"] == [BASE, BASE]
    assert out["inside"] == [0, 0] and out["sub"] == [0, 0]  # not entered
    # top and file; the other file system's own root, where it was changed, counts too
    assert out["count"] == 2 + (out["mnt"] != [0, 0])
    assert not os.path.ismount(top / "mnt")


@pytest.mark.root
def test_shift_tree_shifts_a_hard_linked_file_once(tmp_path):
    """Debian has hard links (perl, perl5.36.0): a second name of a shifted file must not
    shift it again (BASE would look like a host ID outside the map: nobody)."""
    top = tmp_path / "rootfs"
    top.mkdir()
    (top / "perl").write_text("x")
    os.link(top / "perl", top / "perl5.36")
    m = IdMap(BASE)
    assert shift_tree(str(top), None, m) == 2  # top and the one inode
    assert _owner(top / "perl") == _owner(top / "perl5.36") == (BASE, BASE)
    assert shift_tree(str(top), m, None) == 2
    assert _owner(top / "perl5.36") == (0, 0)
