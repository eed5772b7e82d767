"""The one change hutch makes to CRIU's images: restore into a mount namespace hutch made.

CRIU remakes a dumped mount namespace from inside the container's user namespace, so none
of its mounts is locked: the container's root could unmount a mask or remount /proc/sys
read-write after a restore (issue 12 item 3). hutch makes the namespace itself instead, as
a start does (hutch.container.restore_mounts), and CRIU's restored tasks join it
(`--join-ns mnt:`). For CRIU not to remake one as well, the image inventory says that the
tasks' mount namespace is the one CRIU itself was in at dump time ("inherited"): its
`root_ids.mnt_ns_id` becomes the tasks' own. Nothing else changes.

Files are then found by path from the tasks' root, as CRIU does for tasks that shared its
mount namespace: the mount ids its file entries carry (regular files, bound unix sockets)
would name mounts of a dump it no longer reads, so they become -1, "unknown", as CRIU writes
them in that case.

Wire format (CRIU's images/*.proto, protobuf 2): inventory.img is a 4-byte magic, a 4-byte
little-endian size, then `inventory_entry`, whose field 3 is `task_kobj_ids_entry root_ids`
with `mnt_ns_id` as field 9. files.img is two magics, then (size, `file_entry`) pairs.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

INVENTORY = "inventory.img"
INVENTORY_MAGIC = 0x58313116
ROOT_IDS = 3  # inventory_entry.root_ids
MNT_NS_ID = 9  # task_kobj_ids_entry.mnt_ns_id
FILES = "files.img"
# file_entry field -> the mnt_id field of that entry (sint32: -1 is zigzag 1)
MNT_ID_FIELDS = {3: 7, 16: 17}  # reg_file_entry.mnt_id, unix_sk_entry.mnt_id
UNKNOWN_MNT_ID = 1  # zigzag(-1)
_MOUNTPOINTS = re.compile(r"^mountpoints-(\d+)\.img$")

Field = tuple[int, int, bytes | int]  # number, wire type, value (bytes or an int)


class ImageError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ImageError("truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def parse(data: bytes) -> list[Field]:
    """The fields of one protobuf message, in order (wire types 0, 1, 2 and 5)."""
    fields: list[Field] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: bytes | int
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value = data[pos : pos + size]
            if len(value) != size:
                raise ImageError("truncated field")
            pos += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value = data[pos : pos + width]
            pos += width
        else:
            raise ImageError(f"wire type {wire} in field {number}")
        fields.append((number, wire, value))
    return fields


def serialize(fields: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _encode_varint(number << 3 | wire)
        if wire == 0:
            assert isinstance(value, int)
            out += _encode_varint(value)
        elif wire == 2:
            assert isinstance(value, bytes)
            out += _encode_varint(len(value)) + value
        else:
            assert isinstance(value, bytes)
            out += value
    return bytes(out)


def set_field(fields: list[Field], number: int, value: int) -> list[Field]:
    """`fields` with varint field `number` set to `value` (added if absent)."""
    out = [f for f in fields if f[0] != number]
    out.append((number, 0, value))
    return sorted(out, key=lambda f: f[0])


def forget_mount_ids(data: bytes) -> bytes:
    """files.img's bytes with every file entry's mount id -1."""
    if len(data) < 8:
        raise ImageError("files.img is too short")
    out = bytearray(data[:8])
    pos = 8
    while pos < len(data):
        if pos + 4 > len(data):
            raise ImageError("files.img: truncated size")
        (size,) = struct.unpack_from("<I", data, pos)
        body = data[pos + 4 : pos + 4 + size]
        if len(body) != size:
            raise ImageError("files.img: truncated entry")
        pos += 4 + size
        fields = parse(body)
        changed = False
        for i, (number, wire, value) in enumerate(fields):
            inner = MNT_ID_FIELDS.get(number)
            if inner is None or wire != 2 or not isinstance(value, bytes):
                continue
            sub = parse(value)
            if any(f[0] == inner and f[2] != UNKNOWN_MNT_ID for f in sub):
                fields[i] = (number, wire, serialize(set_field(sub, inner, UNKNOWN_MNT_ID)))
                changed = True
        entry = serialize(fields) if changed else body
        out += struct.pack("<I", len(entry)) + entry
    return bytes(out)


def _replace(path: Path, new: bytes, old: bytes) -> None:
    if new != old:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(new)
        tmp.replace(path)


def mount_namespace_ids(images: Path) -> list[int]:
    """The ids of the mount namespaces CRIU dumped (one mountpoints-ID.img each)."""
    ids = []
    for p in images.iterdir():
        m = _MOUNTPOINTS.match(p.name)
        if m:
            ids.append(int(m[1]))
    return sorted(ids)


def rewrite_inventory(data: bytes, mnt_ns_id: int) -> bytes:
    """inventory.img's bytes with root_ids.mnt_ns_id = `mnt_ns_id`."""
    if len(data) < 8:
        raise ImageError("too short")
    magic, size = struct.unpack_from("<II", data)
    if magic != INVENTORY_MAGIC:
        raise ImageError(f"magic {magic:#x} is not the inventory's")
    body = data[8 : 8 + size]
    if len(body) != size:
        raise ImageError("truncated entry")
    fields = parse(body)
    roots = [f for f in fields if f[0] == ROOT_IDS]
    if len(roots) != 1 or not isinstance(roots[0][2], bytes):
        raise ImageError("no root_ids")
    ids = serialize(set_field(parse(roots[0][2]), MNT_NS_ID, mnt_ns_id))
    fields = [(n, w, ids if n == ROOT_IDS else v) for n, w, v in fields]
    new = serialize(fields)
    return struct.pack("<II", magic, len(new)) + new + data[8 + size :]


def inherit_mount_namespace(images: Path) -> None:
    """Make the checkpoint in `images` restore into the mount namespace its tasks join
    (see the module's docstring). Idempotent. Raises ImageError when the tasks had more
    than one mount namespace (a process inside made its own): those hutch cannot remake."""
    ids = mount_namespace_ids(images)
    if len(ids) != 1:
        raise ImageError(f"{len(ids)} mount namespaces in the checkpoint, hutch restores one")
    path = images / INVENTORY
    data = path.read_bytes()
    _replace(path, rewrite_inventory(data, ids[0]), data)
    path = images / FILES
    if path.exists():
        data = path.read_bytes()
        _replace(path, forget_mount_ids(data), data)
