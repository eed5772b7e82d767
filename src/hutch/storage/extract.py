"""Unpack an OS template archive into a new directory, refusing anything unsafe.

An OS template is a tarball of a whole root filesystem (`.tar`, `.tar.gz`, `.tar.xz`,
`.tar.zst`), often downloaded from somewhere else, and its owner ends up running it as a
container. So the archive is data, never instructions for the host:

* no entry may leave the root: no absolute name, no `..`, no hard link to anything but an
  earlier entry of the same archive, no symlink whose target, resolved as the container
  would see it (absolute targets from the root, relative ones from the link's directory,
  through the archive's other symlinks), climbs above the root;
* nothing is written through a symlink: every path is opened with openat2(RESOLVE_IN_ROOT |
  RESOLVE_NO_SYMLINKS), files are created with O_EXCL | O_NOFOLLOW, and an entry below a
  symlink of the archive (`lib -> /etc`, then `lib/x`) is refused before anything is tried;
* the only device nodes are the harmless ones every container gets anyway (null, zero,
  full, random, urandom, tty, console, ptmx).

What is kept: numeric owners, modes with setuid/setgid/sticky bits, mtimes, extended
attributes and file capabilities (pax `SCHILY.xattr.*`, as GNU tar writes them, and bsdtar's
`LIBARCHIVE.xattr.*`), hard links as hard links. Owners and non-`user.` attributes need
root; without it they are left out, as GNU tar does for other users.

The archive is read once, as a stream (gzip and xz by Python's modules, zstd by the `zstd`
command), into a private staging directory beside the destination that is renamed into
place at the end; on any error the staging directory is removed, so the destination either
is complete or does not exist. `check()` runs the same checks without writing anything,
reading the archive to its end so a corrupt compressed stream is caught too.

And it must not fill the host (`Caps`): the file data it declares (a sparse member counts at
its full size: it would be written out whole), the number of entries (inodes), the
decompressed stream (the tar plus anything after its end) and the ratio of the decompressed
stream to the compressed bytes read (an xz of zeros packs ~7000:1, a real root filesystem
rarely beyond 10:1) are each bounded, checked before a byte of the entry is written.
"""

from __future__ import annotations

import base64
import errno
import gzip
import lzma
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile
import urllib.parse
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, cast

from hutch.errors import AlreadyExists, HutchError, InvalidConfig, NotFound, OperationFailed
from hutch.linux.rootpath import open_no_symlinks

__all__ = [
    "ALLOWED_DEVICES",
    "FORMATS",
    "BadArchive",
    "Caps",
    "Progress",
    "Summary",
    "UnsafeEntry",
    "check",
    "detect_format",
    "extract",
]

# progress(bytes of the archive file read so far, its size)
Progress = Callable[[int, int], None]

FORMATS = ("tar", "tar.gz", "tar.xz", "tar.zst")

# (major, minor) -> name: the character devices a template may carry (the ones hutch puts
# in every container's /dev anyway). Block devices and the rest (mem, kmsg, disks) never.
ALLOWED_DEVICES: dict[tuple[int, int], str] = {
    (1, 3): "null",
    (1, 5): "zero",
    (1, 7): "full",
    (1, 8): "random",
    (1, 9): "urandom",
    (5, 0): "tty",
    (5, 1): "console",
    (5, 2): "ptmx",
}

# Attributes that would change how an overlay mount reads the tree if the template ever
# became a lower layer (redirects, opaque directories, metacopy): refused, not copied.
_FORBIDDEN_XATTRS = ("trusted.overlay.", "user.overlay.")

_MAX_HOPS = 40  # the kernel's limit on symlinks followed in one lookup (MAXSYMLINKS)
_NAME_MAX = 255
_PATH_MAX = 4096
_CHUNK = 1 << 20
_PROGRESS_STEP = 1 << 20  # call the progress callback at most once per MiB read
_ZSTD_HINT = "apt-get install zstd"


@dataclass(frozen=True)
class Caps:
    """What one template may unpack to. The defaults hold every real distribution root
    (a full Debian with desktop is ~10 GiB and ~400k entries) with room to spare."""

    max_bytes: int = 32 << 30  # file data, sparse members at their full size
    max_entries: int = 2_000_000
    max_ratio: int = 200  # decompressed / compressed, judged past `ratio_floor`
    ratio_floor: int = 64 << 20  # small archives may compress any way they like

    @property
    def max_stream(self) -> int:
        # the data, and a generous header budget per entry (pax headers, long names)
        return self.max_bytes + 8192 * self.max_entries + (1 << 20)


class BadArchive(InvalidConfig):
    """The file is not a readable template archive (format, corruption, truncation)."""


class UnsafeEntry(BadArchive):
    """An entry of the archive is refused; `.member` is its name in the archive."""

    def __init__(self, label: str, member: str, reason: str) -> None:
        super().__init__(f"template {label}: entry {_show(member)} {reason}")
        self.member = member


@dataclass(frozen=True)
class Summary:
    format: str
    entries: int
    size: int  # bytes of file data


def detect_format(archive: Path) -> str:
    """The archive's format from its first bytes (not its name): one of FORMATS."""
    try:
        with open(archive, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise NotFound(f"cannot read {archive}: {e.strerror}") from None
    return _format_of(head, archive.name)


def check(
    archive: Path,
    *,
    label: str | None = None,
    progress: Progress | None = None,
    caps: Caps | None = None,
) -> Summary:
    """Read the whole archive and apply every check of `extract`, writing nothing."""
    return _run(archive, label or archive.name, progress, None, caps)


def extract(
    archive: Path,
    dest: Path,
    *,
    label: str | None = None,
    progress: Progress | None = None,
    caps: Caps | None = None,
) -> Summary:
    """Unpack `archive` into `dest`, which must not exist (or be an empty directory).

    All or nothing: on any error (`UnsafeEntry`, `BadArchive`, `OperationFailed`) nothing is
    left at `dest` and no staging directory remains.
    """
    label = label or archive.name
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise AlreadyExists(f"{dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        raise AlreadyExists(f"{dest} exists and is not empty")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A sibling, so the rename stays on one filesystem; mkdtemp makes it 0700, so nobody
    # else sees the tree before its modes are final.
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        rootfd = os.open(staging, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            writer = _Writer(rootfd, label)
            try:
                summary = _run(archive, label, progress, writer, caps)
            finally:
                writer.close()
        finally:
            os.close(rootfd)
        # rename(2) replaces an empty directory, so an empty `dest` needs no removal first
        os.rename(staging, dest)
    except OSError as e:
        _remove_tree(staging)
        raise OperationFailed(f"template {label}: cannot create {dest}: {e.strerror}") from None
    except BaseException:
        _remove_tree(staging)
        raise
    return summary


# -- the archive stream ----------------------------------------------------------------------


def _format_of(head: bytes, label: str) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "tar.xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "tar.zst"
    if head[257:262] == b"ustar":
        return "tar"
    what = "a bzip2 file" if head.startswith(b"BZh") else "not a tar archive"
    raise BadArchive(f"template {label}: {what} (supported: {', '.join(FORMATS)})")


class _Corrupt(Exception):
    """A read error of the compressed stream (kept apart from the writer's OSErrors)."""


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes | None: ...


class _TooBig(Exception):
    """The decompressed stream broke one of the Caps (its message says which)."""


class _Source:
    """The decompressed stream, as tarfile reads it; every read error becomes `_Corrupt`,
    and a stream bigger than the caps allow, or decompressing too many times the compressed
    bytes read (`rawfd`'s offset), `_TooBig`: a bomb stops before it is unpacked."""

    def __init__(self, stream: _Readable, rawfd: int = -1, caps: Caps | None = None) -> None:
        self._stream = stream
        self._rawfd = rawfd
        self._caps = caps or Caps()
        self.out = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = _CHUNK  # never the whole stream at once
        try:
            data = self._stream.read(size) or b""
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as e:
            raise _Corrupt(str(e) or type(e).__name__) from None
        self.out += len(data)
        caps = self._caps
        if self.out > caps.max_stream:
            raise _TooBig(f"decompresses to more than {_human(caps.max_stream)}")
        if self._rawfd >= 0 and self.out > caps.ratio_floor:
            raw = max(os.lseek(self._rawfd, 0, os.SEEK_CUR), 1)
            if self.out > caps.max_ratio * raw:
                raise _TooBig(
                    f"decompresses to more than {caps.max_ratio} times its size "
                    f"({_human(self.out)} from {_human(raw)}: a compression bomb?)"
                )
        return data


def _human(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} bytes"


@contextmanager
def _open_stream(
    archive: Path, label: str, caps: Caps
) -> Iterator[tuple[str, int, _Source, Callable[[], None]]]:
    """(format, raw fd, decompressed stream, finish); `finish` checks the decompressor's
    verdict.

    The raw fd's file offset tells how far the archive has been read, whoever reads it (the
    zstd child shares the open file description)."""
    try:
        raw = open(archive, "rb", buffering=0)  # noqa: SIM115 (closed below)
    except OSError as e:
        raise NotFound(f"cannot read {archive}: {e.strerror}") from None
    with raw:
        if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
            raise BadArchive(f"template {label}: {archive} is not a regular file")
        fmt = _format_of(os.pread(raw.fileno(), 512, 0), label)
        if fmt == "tar.zst":
            with _zstd(raw.fileno(), label) as (zstream, finish):
                yield fmt, raw.fileno(), _Source(zstream, raw.fileno(), caps), finish
        elif fmt == "tar.gz":
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield fmt, raw.fileno(), _Source(gz, raw.fileno(), caps), _nothing
        elif fmt == "tar.xz":
            with lzma.LZMAFile(raw, mode="rb") as xz:
                yield fmt, raw.fileno(), _Source(xz, raw.fileno(), caps), _nothing
        else:  # no ratio to judge: the stream is the file
            yield fmt, raw.fileno(), _Source(raw, -1, caps), _nothing


def _nothing() -> None:
    pass


@contextmanager
def _zstd(fd: int, label: str) -> Iterator[tuple[IO[bytes], Callable[[], None]]]:
    exe = shutil.which("zstd")
    if exe is None:
        raise NotFound(f"template {label}: zstd is not installed", hint=_ZSTD_HINT)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [exe, "-d", "-c", "-q"], stdin=fd, stdout=subprocess.PIPE, stderr=errors
        )
        assert proc.stdout is not None

        def finish() -> None:
            proc.stdout.close()  # type: ignore[union-attr]
            if proc.wait() != 0:
                errors.seek(0)
                why = errors.read().decode(errors="replace").strip().splitlines()
                reason = why[-1] if why else f"zstd exited with status {proc.returncode}"
                raise BadArchive(f"template {label}: corrupt archive: {reason}")

        try:
            yield proc.stdout, finish
        finally:
            if proc.poll() is None:
                proc.kill()  # our own child, by its pid
            proc.stdout.close()
            proc.wait()


def _run(
    archive: Path,
    label: str,
    progress: Progress | None,
    writer: _Writer | None,
    caps: Caps | None = None,
) -> Summary:
    entries = size = 0
    caps = caps or Caps()
    policy = _Policy(label)
    with _open_stream(archive, label, caps) as (fmt, rawfd, source, finish):
        total = os.fstat(rawfd).st_size
        reported = 0
        try:
            # tarfile reads a stream through nothing but read()
            with tarfile.open(fileobj=cast("IO[bytes]", source), mode="r|") as tf:
                for member in tf:
                    entry = policy.admit(member)
                    # counted before anything of the entry is written
                    entries += 1
                    size += member.size if member.isreg() else 0
                    if entries > caps.max_entries:
                        raise BadArchive(
                            f"template {label}: more than {caps.max_entries} entries "
                            "(the cap on a template's files)"
                        )
                    if size > caps.max_bytes:
                        raise UnsafeEntry(
                            label,
                            member.name,
                            f"takes the files' data over {_human(caps.max_bytes)} "
                            f"({member.size} bytes{', sparse' if member.issparse() else ''}; "
                            "the cap on a template's size)",
                        )
                    if writer is not None:
                        writer.write(entry, tf)
                    if progress is not None:
                        pos = os.lseek(rawfd, 0, os.SEEK_CUR)
                        if pos - reported >= _PROGRESS_STEP:
                            progress(pos, total)
                            reported = pos
                # the rest of the stream (the padding after the end marker, the gzip trailer
                # with its CRC), so a corrupt or truncated file is noticed
                while source.read(_CHUNK):
                    pass
        except _Corrupt as e:
            raise BadArchive(f"template {label}: corrupt archive: {e}") from None
        except _TooBig as e:
            raise BadArchive(f"template {label}: {e}") from None
        except tarfile.TarError as e:
            raise BadArchive(f"template {label}: corrupt or not a tar archive: {e}") from None
        finish()
    if entries == 0:
        raise BadArchive(f"template {label}: the archive has no entries")
    policy.finish()
    if writer is not None:
        writer.finish()
    if progress is not None:
        progress(total, total)
    return Summary(fmt, entries, size)


# -- what is allowed -------------------------------------------------------------------------


@dataclass
class _Entry:
    member: tarfile.TarInfo
    name: str  # as in the archive, for messages
    path: str  # normalised, relative to the root; "" is the root itself
    kind: str  # dir, file, symlink, hardlink, device, fifo
    link: str = ""  # a symlink's target, or a hard link's normalised target path
    xattrs: dict[str, bytes] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)  # implicit directories to make first
    replace: bool = False  # an earlier non-directory entry of that path goes first


class _Policy:
    """Decides on each entry, knowing the tree the earlier entries made (and nothing else:
    the tree starts empty, so every symlink in it is one of the archive's)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.kinds: dict[str, str] = {"": "dir"}  # path -> dir | symlink | other
        self.symlinks: dict[str, tuple[str, str]] = {}  # path -> (target, member name)

    def refuse(self, name: str, reason: str) -> UnsafeEntry:
        return UnsafeEntry(self.label, name, reason)

    def admit(self, m: tarfile.TarInfo) -> _Entry:
        path = self._path(m.name, m.name)
        kind = self._kind(m)
        entry = _Entry(m, m.name, path, kind, xattrs=self._xattrs(m))
        parts = path.split("/") if path else []
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            have = self.kinds.get(prefix)
            if have == "symlink":
                raise self.refuse(m.name, f"would be written through the symlink {prefix}")
            if have == "other":
                raise self.refuse(m.name, f"is below {prefix}, which is not a directory")
            if have is None:
                entry.parents.append(prefix)
                self.kinds[prefix] = "dir"
        have = self.kinds.get(path)
        if have == "dir" and kind != "dir":
            raise self.refuse(m.name, "would replace a directory")
        entry.replace = have is not None and have != "dir"
        if not path and kind != "dir":
            raise self.refuse(m.name, "is the root but not a directory")

        if kind == "symlink":
            entry.link = m.linkname
            if not m.linkname:
                raise self.refuse(m.name, "is a symlink with an empty target")
            if len(m.linkname.encode(errors="surrogateescape")) >= _PATH_MAX:
                raise self.refuse(m.name, "is a symlink with a target longer than PATH_MAX")
        elif kind == "hardlink":
            entry.link = self._path(m.linkname, m.name, hard_link=True)
            if self.kinds.get(entry.link) in (None, "dir") or entry.link == path:
                raise self.refuse(
                    m.name,
                    f"is a hard link to {_show(m.linkname)}, which is not an earlier file "
                    "of the archive",
                )
        elif kind == "device":
            dev = (m.devmajor, m.devminor)
            if not m.ischr() or dev not in ALLOWED_DEVICES:
                what = "character" if m.ischr() else "block"
                raise self.refuse(
                    m.name,
                    f"is a {what} device {m.devmajor}:{m.devminor} (allowed: "
                    + ", ".join(ALLOWED_DEVICES.values())
                    + ")",
                )

        # what the tree holds now (a hard link to a symlink is that symlink, here too)
        self.symlinks.pop(path, None)
        if kind == "symlink":
            self.kinds[path] = "symlink"
            self.symlinks[path] = (m.linkname, m.name)
        elif kind == "hardlink" and entry.link in self.symlinks:
            self.kinds[path] = "symlink"
            self.symlinks[path] = (self.symlinks[entry.link][0], m.name)
        else:
            self.kinds[path] = "dir" if kind == "dir" else "other"
        return entry

    def finish(self) -> None:
        """Symlinks are judged on the final tree: a target may name a later entry."""
        for path, (target, name) in self.symlinks.items():
            if self._climbs_out(path, target):
                raise self.refuse(name, f"is a symlink to {_show(target)}, which leaves the root")

    def _path(self, raw: str, name: str, hard_link: bool = False) -> str:
        what = f"is a hard link to {_show(raw)}, which" if hard_link else ""
        if raw.startswith("/"):
            raise self.refuse(name, f"{what} is an absolute path".lstrip())
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise self.refuse(name, f"{what} leaves the root".lstrip())
        if any(len(p.encode(errors="surrogateescape")) > _NAME_MAX for p in parts):
            raise self.refuse(name, "has a name longer than NAME_MAX")
        path = "/".join(parts)
        if len(path.encode(errors="surrogateescape")) >= _PATH_MAX:
            raise self.refuse(name, "has a path longer than PATH_MAX")
        return path

    def _kind(self, m: tarfile.TarInfo) -> str:
        if m.isreg():
            return "file"
        if m.isdir():
            return "dir"
        if m.issym():
            return "symlink"
        if m.islnk():
            return "hardlink"
        if m.ischr() or m.isblk():
            return "device"
        if m.isfifo():
            return "fifo"
        raise self.refuse(m.name, f"has an unsupported type {m.type!r}")

    def _xattrs(self, m: tarfile.TarInfo) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for key, value in m.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                # tarfile decodes pax values as UTF-8 with surrogateescape: this is a round trip
                found[key[13:]] = value.encode("utf-8", "surrogateescape")
            elif key.startswith("LIBARCHIVE.xattr."):
                try:
                    data = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
                except ValueError:
                    raise self.refuse(m.name, f"has a malformed {key} header") from None
                found[urllib.parse.unquote(key[17:])] = data
        for attr in found:
            if attr.startswith(_FORBIDDEN_XATTRS) or not attr or "\0" in attr:
                raise self.refuse(m.name, f"has the extended attribute {_show(attr)}")
        return found

    def _climbs_out(self, path: str, target: str) -> bool:
        """Whether resolving the symlink at `path` climbs above the root, following the
        archive's other symlinks as the kernel would; a component the archive does not
        have counts as a plain directory."""
        cur = [] if target.startswith("/") else path.split("/")[:-1]
        todo = deque(p for p in target.split("/") if p not in ("", "."))
        hops = 0
        while todo:
            part = todo.popleft()
            if part == "..":
                if not cur:
                    return True
                cur.pop()
                continue
            cur.append(part)
            link = self.symlinks.get("/".join(cur))
            if link is None:
                continue
            hops += 1
            if hops > _MAX_HOPS:
                return False  # a loop: the kernel says ELOOP, nothing escapes
            cur.pop()
            if link[0].startswith("/"):
                cur = []
            todo.extendleft(reversed([p for p in link[0].split("/") if p not in ("", ".")]))
        return False


# -- writing the tree ------------------------------------------------------------------------


class _Writer:
    """Creates admitted entries below `rootfd`, never following a symlink."""

    def __init__(self, rootfd: int, label: str) -> None:
        self.rootfd = rootfd
        self.label = label
        self.as_root = os.geteuid() == 0
        self.dirs: dict[str, tuple[tarfile.TarInfo | None, dict[str, bytes]]] = {}
        self._parents: dict[str, int] = {}

    def close(self) -> None:
        for fd in self._parents.values():
            os.close(fd)
        self._parents.clear()

    def _parent(self, path: str) -> tuple[int, str]:
        parent, _, name = path.rpartition("/")
        fd = self._parents.get(parent)
        if fd is None:
            if len(self._parents) >= 64:
                self.close()
            fd = open_no_symlinks(self.rootfd, parent)
            self._parents[parent] = fd
        return fd, name

    def write(self, entry: _Entry, tf: tarfile.TarFile) -> None:
        m = entry.member
        try:
            for d in entry.parents:
                pfd, name = self._parent(d)
                os.mkdir(name, 0o700, dir_fd=pfd)
                self.dirs.setdefault(d, (None, {}))
            if entry.replace:  # an earlier file, symlink, ... of that name: tar's order wins
                pfd, name = self._parent(entry.path)
                os.unlink(name, dir_fd=pfd)
            if entry.kind == "dir":
                if entry.path and entry.path not in self.dirs:
                    pfd, name = self._parent(entry.path)
                    os.mkdir(name, 0o700, dir_fd=pfd)
                self.dirs[entry.path] = (m, entry.xattrs)
                return
            pfd, name = self._parent(entry.path)
            if entry.kind == "file":
                self._file(pfd, name, m, entry, tf)
            elif entry.kind == "hardlink":
                tfd, tname = self._parent(entry.link)
                os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            elif entry.kind == "symlink":
                os.symlink(entry.link, name, dir_fd=pfd)
                self._owner(m, lambda u, g: os.chown(name, u, g, dir_fd=pfd, follow_symlinks=False))
                # the kernel allows no user.* attributes on symlinks; tar drops them too
                entry.xattrs = {k: v for k, v in entry.xattrs.items() if not k.startswith("user.")}
                self._xattrs(entry, lambda k, v: _lsetxattr(pfd, name, k, v))
                os.utime(name, ns=_ns(m), dir_fd=pfd, follow_symlinks=False)
            else:  # device, fifo: created 0600, then given their owner and mode
                kind = stat.S_IFIFO if m.isfifo() else stat.S_IFCHR
                dev = os.makedev(m.devmajor, m.devminor) if m.ischr() else 0
                os.mknod(name, kind | 0o600, dev, dir_fd=pfd)
                self._owner(m, lambda u, g: os.chown(name, u, g, dir_fd=pfd, follow_symlinks=False))
                self._xattrs(entry, lambda k, v: _lsetxattr(pfd, name, k, v))
                # the node was just made by us in a private tree: following is harmless
                os.chmod(name, m.mode & 0o7777, dir_fd=pfd)
                os.utime(name, ns=_ns(m), dir_fd=pfd, follow_symlinks=False)
        except OSError as e:
            raise self._failed(entry.name, e) from None

    def _file(
        self, pfd: int, name: str, m: tarfile.TarInfo, entry: _Entry, tf: tarfile.TarFile
    ) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=pfd)
        try:
            data = tf.extractfile(m)
            assert data is not None
            while chunk := data.read(_CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
            # chown clears setuid bits and capabilities, writing too: so data, owner,
            # attributes, mode, in that order
            self._owner(m, lambda u, g: os.fchown(fd, u, g))
            self._xattrs(entry, lambda k, v: os.setxattr(fd, k, v))
            os.fchmod(fd, m.mode & 0o7777)
            os.utime(fd, ns=_ns(m))
        finally:
            os.close(fd)

    def finish(self) -> None:
        """Directories last: their mtimes only hold once nothing is added below them, and a
        read-only mode must not stop the extraction (for a user other than root)."""
        self.close()
        for path in sorted(self.dirs, key=len, reverse=True):
            m, xattrs = self.dirs[path]
            try:
                fd = open_no_symlinks(self.rootfd, path, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    if m is None:  # made because an entry below it needed it
                        os.fchmod(fd, 0o755)
                        continue
                    self._owner(m, _fchown(fd))
                    self._xattrs(_Entry(m, m.name, path, "dir", xattrs=xattrs), _fsetxattr(fd))
                    os.fchmod(fd, m.mode & 0o7777)
                    os.utime(fd, ns=_ns(m))
                finally:
                    os.close(fd)
            except OSError as e:
                raise self._failed(m.name if m else path or ".", e) from None
        if "" not in self.dirs:  # no entry for the root itself
            fd = open_no_symlinks(self.rootfd, "", os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fchmod(fd, 0o755)
            finally:
                os.close(fd)

    def _owner(self, m: tarfile.TarInfo, chown: Callable[[int, int], None]) -> None:
        if self.as_root:
            chown(m.uid, m.gid)

    def _xattrs(self, entry: _Entry, setxattr: Callable[[str, bytes], None]) -> None:
        for key, value in entry.xattrs.items():
            if not self.as_root and not key.startswith("user."):
                continue  # like owners: only root can set them
            try:
                setxattr(key, value)
            except OSError as e:
                raise OperationFailed(
                    f"template {self.label}: cannot set {key} on {_show(entry.name)}: {e.strerror}"
                ) from None

    def _failed(self, name: str, e: OSError) -> HutchError:
        if e.errno == errno.ELOOP:  # openat2 met a symlink the policy did not expect
            return UnsafeEntry(self.label, name, "would be written through a symlink")
        return OperationFailed(f"template {self.label}: cannot extract {_show(name)}: {e.strerror}")


def _fchown(fd: int) -> Callable[[int, int], None]:
    return lambda u, g: os.fchown(fd, u, g)


def _fsetxattr(fd: int) -> Callable[[str, bytes], None]:
    return lambda k, v: os.setxattr(fd, k, v)


def _lsetxattr(pfd: int, name: str, key: str, value: bytes) -> None:
    # no setxattrat(2) before Linux 6.13: the directory's magic link, then the name, unfollowed
    os.setxattr(f"/proc/self/fd/{pfd}/{name}", key, value, follow_symlinks=False)


def _ns(m: tarfile.TarInfo) -> tuple[int, int]:
    ns = int(m.mtime * 1_000_000_000) if isinstance(m.mtime, float) else m.mtime * 1_000_000_000
    return ns, ns


def _show(name: str) -> str:
    return name if name.isprintable() and name.strip() == name and name else repr(name)


def _remove_tree(path: Path) -> None:
    """Remove a staging tree, whatever modes the archive gave its directories."""
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return
    # a user other than root cannot empty a read-only directory: open them all up (never
    # through a symlink: os.walk lists links to directories among the directories)
    for dirpath, dirs, _files in os.walk(path):
        for d in dirs:
            sub = os.path.join(dirpath, d)
            if not os.path.islink(sub):
                with suppress(OSError):
                    os.chmod(sub, 0o700)
    shutil.rmtree(path, ignore_errors=True)
