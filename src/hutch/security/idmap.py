"""User namespaces of containers: which host IDs a container's IDs are.

An unprivileged container runs in a user namespace that maps its IDs 0..65535 onto 65536 host
IDs nobody else uses, taken from root's subordinate ranges in /etc/subuid and /etc/subgid. Its
root is then an ordinary user on the host: whatever escapes the container's namespaces finds
no privilege there. `shared` containers (the default) all use the first block of root's
range; `isolated` ones get a block each, so two containers' users are different host users too.

The container's files belong to its host IDs: a private copy (dir, image backends) is shifted
once at create, a shared template (overlay backend) is seen through an idmapped mount.

A privileged container's IDs are not shifted, yet it runs in a user namespace too: one that
maps every ID to itself (IDENTITY). Its files are the host's own IDs, as they always were,
but its capabilities are its namespace's, not the host's: CAP_NET_ADMIN over the host's
network namespace (IFLA_TARGET_NETNSID), mknod of devices, SCHED_FIFO/RR and unlocked
mounts are refused by the kernel, which checks those in the host's user namespace.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from hutch.errors import InvalidConfig, KernelFeatureMissing

SIZE = 65536  # IDs per container: every uid and gid a Linux distribution uses
OVERFLOW = 65534  # where IDs outside the map show up (the kernel's overflowuid)
SUBUID = Path("/etc/subuid")
SUBGID = Path("/etc/subgid")
IDMAP_MODES = ("shared", "isolated")


@dataclass(frozen=True)
class IdMap:
    """Container IDs 0..size-1 are host IDs base..base+size-1 (uids and gids alike)."""

    base: int
    size: int = SIZE

    def map_text(self) -> str:
        """The contents of /proc/PID/uid_map and gid_map."""
        return f"0 {self.base} {self.size}\n"

    def to_host(self, cid: int) -> int:
        return self.base + (cid if 0 <= cid < self.size else OVERFLOW)

    def to_container(self, hid: int) -> int:
        return hid - self.base if self.base <= hid < self.base + self.size else OVERFLOW


# every ID is itself: 0..2^32-2 (4294967295 is (uid_t)-1, no ID); a privileged container's map
IDENTITY = IdMap(0, 4294967295)


def userns_map(idmap: IdMap | None) -> IdMap:
    """The map of a container's user namespace: its shifted IDs, or (privileged) IDENTITY."""
    return IDENTITY if idmap is None else idmap


def to_host(idmap: IdMap | None, cid: int) -> int:
    """A container ID as a host ID (None: a privileged container, the same ID)."""
    return cid if idmap is None else idmap.to_host(cid)


def to_container(idmap: IdMap | None, hid: int) -> int:
    return hid if idmap is None else idmap.to_container(hid)


# -- /etc/subuid and /etc/subgid -------------------------------------------------------------


def subordinate_ranges(path: Path, user: str = "root", uid: int = 0) -> list[tuple[int, int]]:
    """(start, count) of each `user:start:count` line (by name or number); [] if no file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise InvalidConfig(f"{path}:{n}: not a NAME:START:COUNT line: {line!r}")
        if parts[0] in (user, str(uid)):
            out.append((int(parts[1]), int(parts[2])))
    return out


def blocks(subuid: Path = SUBUID, subgid: Path = SUBGID) -> list[int]:
    """Starts of the SIZE-ID blocks that lie in root's subordinate uid AND gid ranges (one
    base serves as both, so a container's uid and gid maps look alike)."""
    gids = subordinate_ranges(subgid)
    out: list[int] = []
    for ustart, ucount in subordinate_ranges(subuid):
        for gstart, gcount in gids:
            start, end = max(ustart, gstart), min(ustart + ucount, gstart + gcount)
            out += range(start, end - SIZE + 1, SIZE)
    return sorted(set(out))


def allocate(mode: str, taken: set[int], subuid: Path = SUBUID, subgid: Path = SUBGID) -> int:
    """The base of a new container's map: the first block (shared), or the first block no
    other container holds (isolated; `taken` are the bases in use)."""
    found = blocks(subuid, subgid)
    if not found:
        raise KernelFeatureMissing(
            f"no subordinate IDs for root in {subuid} and {subgid}: unprivileged containers "
            f"need {SIZE} of each",
            hint="add 'root:1000000:1000000000' to both files (setup.sh does), "
            "or create the container with --privileged",
        )
    if mode == "shared":
        return found[0]
    for base in found[1:]:  # the first block is the shared one
        if base not in taken:
            return base
    raise KernelFeatureMissing(
        f"every {SIZE}-ID block of root's range in {subuid} is in use by an isolated container",
        hint=f"give root a larger range in {subuid} and {subgid}",
    )


def check_base(base: int, subuid: Path = SUBUID, subgid: Path = SUBGID) -> None:
    """Refuse a base whose block [base, base+SIZE) is not wholly inside root's subordinate
    ranges in both files: IDs outside them may be real host users (a hand-edited config.toml
    or a `--config` file could otherwise map the container's root onto, say, uid 1000)."""
    for path in (subuid, subgid):
        if not any(s <= base and base + SIZE <= s + n for s, n in subordinate_ranges(path)):
            raise InvalidConfig(
                f"security.idmap_base {base}: host IDs {base}..{base + SIZE - 1} are not in "
                f"root's subordinate range in {path}",
                hint=f"pick a base inside root's ranges in {subuid} and {subgid}, or leave "
                "idmap_base out (hutch picks one)",
            )


# -- shifting a tree's owners ------------------------------------------------------------------

XATTR_CAPS = "security.capability"
_CAP_REV_MASK = 0xFF000000
_CAP_REV2 = 0x02000000
_CAP_REV3 = 0x03000000


def shift_caps(value: bytes, old: IdMap | None, new: IdMap | None) -> bytes:
    """A file capability (security.capability) for the new map. Version 3 records the host
    uid of the namespace root it is valid for; version 2 means the host's root."""
    magic = struct.unpack_from("<I", value)[0]
    rev = magic & _CAP_REV_MASK
    if rev == _CAP_REV3 and len(value) >= 24:
        rootid = struct.unpack_from("<I", value, 20)[0]
    elif rev == _CAP_REV2 and len(value) >= 20:
        rootid = 0
    else:
        return value  # version 1 or unknown: leave it as it is
    croot = to_container(old, rootid)
    hroot = to_host(new, croot)
    body = value[4:20]
    if hroot == 0:
        return struct.pack("<I", _CAP_REV2 | (magic & ~_CAP_REV_MASK)) + body
    return struct.pack("<I", _CAP_REV3 | (magic & ~_CAP_REV_MASK)) + body + struct.pack("<I", hroot)


def shift_tree(top: str, old: IdMap | None, new: IdMap | None) -> int:
    """Give every file below `top` (itself included) the owner it has in the container under
    `new` instead of `old`; returns how many changed. Stays on `top`'s file system, never
    follows a link, and keeps setuid/setgid bits and file capabilities, which chown drops."""
    if old == new:
        return 0
    dev = os.lstat(top).st_dev
    changed = 0
    seen: set[int] = set()  # inodes with more than one link, shifted at their first name

    def one(path: str) -> bool:
        st = os.lstat(path)
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            if st.st_ino in seen:
                return False
            seen.add(st.st_ino)
        uid = to_host(new, to_container(old, st.st_uid))
        gid = to_host(new, to_container(old, st.st_gid))
        if (uid, gid) == (st.st_uid, st.st_gid):
            return False
        is_link = stat.S_ISLNK(st.st_mode)
        caps = None
        if stat.S_ISREG(st.st_mode):
            try:
                caps = os.getxattr(path, XATTR_CAPS, follow_symlinks=False)
            except OSError as e:
                if e.errno not in (errno.ENODATA, errno.EOPNOTSUPP):
                    raise
        os.lchown(path, uid, gid)
        if not is_link and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
            os.chmod(path, stat.S_IMODE(st.st_mode))
        if caps is not None:
            os.setxattr(path, XATTR_CAPS, shift_caps(caps, old, new), follow_symlinks=False)
        return True

    changed += one(top)
    for dirpath, dirnames, filenames in os.walk(top):
        keep = []
        for name in dirnames:
            path = os.path.join(dirpath, name)
            changed += one(path)
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode) and st.st_dev == dev:
                keep.append(name)  # os.walk lists symlinks to directories here too
        dirnames[:] = keep
        for name in filenames:
            changed += one(os.path.join(dirpath, name))
    return changed


def of(privileged: bool, base: int | None) -> IdMap | None:
    """How a container's IDs are shifted, from its config (None: privileged, not shifted;
    its user namespace maps IDENTITY)."""
    if privileged or base is None:
        return None
    return IdMap(base)


def mode(idmap: IdMap | None, setting: str) -> str:
    """shared, isolated or privileged: how `list` and `status` name a container's IDs, from its
    map (None: privileged) and its security.idmap setting."""
    return "privileged" if idmap is None else setting
