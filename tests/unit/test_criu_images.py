"""hutch.criu.images: the inventory and files.img rewrites that let CRIU restore into a mount
namespace hutch made (issue 12 item 3), on hand-built protobuf bytes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from hutch.criu import images as im


def _inventory(mnt_ns_id: int, big: bool = False) -> bytes:
    ids = [(n, 0, n + 100 if big else n) for n in range(1, 13)]
    ids = [(n, w, mnt_ns_id if n == im.MNT_NS_ID else v) for n, w, v in ids]
    body = im.serialize([(1, 0, 2), (2, 0, 1), (im.ROOT_IDS, 2, im.serialize(ids)), (13, 2, b"x")])
    return struct.pack("<II", im.INVENTORY_MAGIC, len(body)) + body


def _root_ids(data: bytes) -> dict[int, object]:
    fields = im.parse(data[8:])
    (root,) = [v for n, _, v in fields if n == im.ROOT_IDS]
    assert isinstance(root, bytes)
    return {n: v for n, _, v in im.parse(root)}


def test_varints_round_trip() -> None:
    for value in (0, 1, 127, 128, 300, 2**32 - 1, 2**63):
        assert im.parse(im.serialize([(5, 0, value)])) == [(5, 0, value)]


@pytest.mark.parametrize("big", [False, True])
def test_the_inventory_names_the_tasks_mount_namespace(big: bool) -> None:
    data = _inventory(6, big)
    new = im.rewrite_inventory(data, 300)  # a longer varint: the sizes grow
    ids = _root_ids(new)
    assert ids[im.MNT_NS_ID] == 300
    assert {k: v for k, v in ids.items() if k != im.MNT_NS_ID} == {
        k: v for k, v in _root_ids(data).items() if k != im.MNT_NS_ID
    }
    assert struct.unpack_from("<I", new, 4)[0] == len(new) - 8
    assert im.rewrite_inventory(new, 300) == new


def test_a_damaged_inventory_is_refused() -> None:
    with pytest.raises(im.ImageError):
        im.rewrite_inventory(b"\x00" * 12, 1)
    with pytest.raises(im.ImageError):
        im.rewrite_inventory(_inventory(6)[:20], 1)


def _files(*entries: bytes) -> bytes:
    out = bytearray(struct.pack("<II", 0x54564319, 0x56303138))
    for e in entries:
        out += struct.pack("<I", len(e)) + e
    return bytes(out)


def test_file_entries_forget_their_mounts() -> None:
    reg = im.serialize([(1, 0, 1), (2, 0, 7), (3, 2, im.serialize([(1, 0, 7), (7, 0, 504)]))])
    usk = im.serialize([(1, 0, 5), (2, 0, 9), (16, 2, im.serialize([(1, 0, 9), (17, 0, 504)]))])
    pipe = im.serialize([(1, 0, 6), (2, 0, 3), (18, 2, im.serialize([(1, 0, 3)]))])
    new = im.forget_mount_ids(_files(reg, usk, pipe))
    pos, seen = 8, []
    while pos < len(new):
        (size,) = struct.unpack_from("<I", new, pos)
        seen.append(im.parse(new[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    sub = [dict((n, v) for n, _, v in im.parse(e[2][2])) for e in seen]  # type: ignore[arg-type]
    assert sub[0][7] == im.UNKNOWN_MNT_ID and sub[1][17] == im.UNKNOWN_MNT_ID
    assert sub[2] == {1: 3}
    assert im.forget_mount_ids(new) == new


def test_more_than_one_mount_namespace_is_refused(tmp_path: Path) -> None:
    (tmp_path / "inventory.img").write_bytes(_inventory(6))
    (tmp_path / "mountpoints-13.img").write_bytes(b"")
    (tmp_path / "mountpoints-14.img").write_bytes(b"")
    with pytest.raises(im.ImageError, match="2 mount namespaces"):
        im.inherit_mount_namespace(tmp_path)
    (tmp_path / "mountpoints-14.img").unlink()
    im.inherit_mount_namespace(tmp_path)
    assert _root_ids((tmp_path / "inventory.img").read_bytes())[im.MNT_NS_ID] == 13
