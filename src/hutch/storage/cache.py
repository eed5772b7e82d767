"""The OS template cache: tarballs in `Paths.templates`, named the OpenVZ way.

`debian-12-x86_64-minimal.tar.gz` in the cache is the template `debian-12-x86_64-minimal`,
exactly as in OpenVZ's `/var/lib/vz/template/cache`, so its precreated templates can be used
as they are. The built-in `busybox` template is listed with them but lives nowhere: it is
built from the host's busybox on demand (`hutch.storage.busybox`).

`import_template` only lets in an archive that passed every check of the extractor
(`hutch.storage.extract`): it is copied to a hidden file in the cache, the copy is checked
(so what was checked is what is kept, whatever happens to the original meanwhile), and only
then linked under its name, which fails rather than replaces if the name was taken
meanwhile. A tarball dropped into the directory by hand is listed too, and is held to the
same checks when a container is created from it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hutch.errors import AlreadyExists, NotFound, StateConflict, UsageError
from hutch.paths import Paths
from hutch.storage.extract import FORMATS, Progress, Summary, check, detect_format, extract

__all__ = [
    "BUILTIN",
    "TemplateInfo",
    "find_template",
    "import_template",
    "install",
    "list_templates",
    "remove_template",
    "template_name",
    "validate_name",
]

# templates built on demand, listed with the cached ones but kept nowhere
BUILTIN = ("busybox",)

# file name ending -> format, longest first so `.tar.gz` is not taken for `.gz`
SUFFIXES: tuple[tuple[str, str], ...] = (
    (".tar.zstd", "tar.zst"),
    (".tar.zst", "tar.zst"),
    (".tar.gz", "tar.gz"),
    (".tar.xz", "tar.xz"),
    (".tzst", "tar.zst"),
    (".tgz", "tar.gz"),
    (".txz", "tar.xz"),
    (".tar", "tar"),
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    format: str  # one of extract.FORMATS, or "builtin"
    file: Path | None = None
    size: int | None = None
    mtime: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "format": self.format,
            "file": str(self.file) if self.file else None,
            "size": self.size,
            "mtime": self.mtime,
        }


def template_name(filename: str) -> tuple[str, str] | None:
    """(name, format) a file name stands for: `x.tar.gz` -> (`x`, `tar.gz`); None if none."""
    for suffix, fmt in SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)], fmt
    return None


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid template name {name!r}",
            hint="letters, digits and . _ + -, starting with a letter or digit; at most 128",
        )
    return name


def list_templates(paths: Paths) -> list[TemplateInfo]:
    """Every template: the built-in ones first, then the cache's, by name."""
    found = [TemplateInfo(name, "builtin") for name in BUILTIN]
    found += sorted(_cached(paths).values(), key=lambda t: t.name)
    return found


def find_template(paths: Paths, name: str) -> TemplateInfo:
    """The template called `name`; NotFound, listing the available ones, if there is none."""
    if name in BUILTIN:
        return TemplateInfo(name, "builtin")
    info = _cached(paths).get(name) if _NAME.fullmatch(name) else None
    if info is None:
        raise NotFound(
            f"unknown template {name!r}",
            hint="available: " + ", ".join(t.name for t in list_templates(paths)),
        )
    return info


def import_template(
    paths: Paths, file: Path, name: str | None = None, progress: Progress | None = None
) -> tuple[TemplateInfo, Summary]:
    """Check `file` completely and add it to the cache as `name` (default: from its file
    name). The cached copy is named after the format of its contents, not its old name."""
    if name is None:
        parsed = template_name(file.name)
        if parsed is None:
            raise UsageError(
                f"cannot tell a template name from {file.name!r}",
                hint="name it NAME.tar.gz (.tar, .tar.xz, .tar.zst) or give --name NAME",
            )
        name = parsed[0]
    validate_name(name)
    _check_free(paths, name)
    if not file.is_file():
        raise NotFound(f"{file} does not exist or is not a regular file")
    fmt = detect_format(file)

    paths.templates.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=paths.templates)
    tmp = Path(tmp_name)
    try:
        os.close(fd)
        try:
            shutil.copyfile(file, tmp)
        except OSError as e:
            raise NotFound(f"cannot copy {file}: {e.strerror}") from None
        summary = check(tmp, label=file.name, progress=progress)
        os.chmod(tmp, 0o644)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        final = paths.templates / f"{name}.{fmt}"
        _check_free(paths, name)
        try:
            os.link(tmp, final)  # never replaces: a name taken meanwhile stays as it was
        except FileExistsError:
            raise AlreadyExists(f"template {name} already exists ({final})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    st = final.stat()
    return TemplateInfo(name, fmt, final, st.st_size, st.st_mtime), summary


def remove_template(paths: Paths, name: str) -> TemplateInfo:
    """Delete a cached template. Containers made from it keep their own copies."""
    info = find_template(paths, name)
    if info.file is None:
        raise StateConflict(f"template {name} is built in and cannot be removed")
    try:
        os.unlink(info.file)
    except FileNotFoundError:
        raise NotFound(f"unknown template {name!r}") from None
    return info


def install(paths: Paths, name: str, dest: Path, progress: Progress | None = None) -> Summary:
    """Unpack the cached template `name` into `dest` (which must not exist yet)."""
    info = find_template(paths, name)
    if info.file is None:
        raise UsageError(f"template {name} is built in, not cached")
    return extract(info.file, dest, label=info.file.name, progress=progress)


def _cached(paths: Paths) -> dict[str, TemplateInfo]:
    found: dict[str, TemplateInfo] = {}
    try:
        entries = list(os.scandir(paths.templates))
    except FileNotFoundError:
        return found
    # the preferred file first when one name has several (dropped in by hand)
    order = {fmt: i for i, fmt in enumerate(FORMATS)}
    for entry in entries:
        parsed = None if entry.name.startswith(".") else template_name(entry.name)
        if parsed is None or not _NAME.fullmatch(parsed[0]) or parsed[0] in BUILTIN:
            continue
        try:
            if not entry.is_file(follow_symlinks=True):
                continue
            st = entry.stat(follow_symlinks=True)
        except OSError:
            continue
        name, fmt = parsed
        info = TemplateInfo(name, fmt, Path(entry.path), st.st_size, st.st_mtime)
        have = found.get(name)
        if have is None or order[fmt] < order[have.format]:
            found[name] = info
    return found


def _check_free(paths: Paths, name: str) -> None:
    if name in BUILTIN:
        raise AlreadyExists(f"template {name} is built in")
    have = _cached(paths).get(name)
    if have is not None:
        raise AlreadyExists(
            f"template {name} already exists ({have.file})",
            hint=f"remove it first: hutch template remove {name}",
        )
