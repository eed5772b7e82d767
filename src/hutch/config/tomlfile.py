"""config.toml: load and validate with `tomllib`, change and create with `tomlkit`.

Reading is on the fast path (`hutch list`, `hutch exec`), so it uses only the standard
library. Writing keeps the user's comments, blank lines and key order, so it needs tomlkit,
which is imported inside the writing functions only.

tomllib reports no positions for values, so the line of a bad key is found by scanning the
text (`_key_lines`); every error names the file and the line: `config.toml:5: onboot: ...`.
Writes are atomic: a temporary file in the same directory, fsync, rename over the original.
Callers hold the container's lock; this module does not lock.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Set

from hutch.config.schema import KEY_BY_NAME, KEYS, TABLES, ContainerConfig
from hutch.errors import InvalidConfig, NotFound, OperationFailed

TYPE_CHECKING = False  # typing costs milliseconds at start-up; annotations only need it here
if TYPE_CHECKING:
    from typing import Any

FILENAME = "config.toml"

PathArg = str | os.PathLike[str]


# -- reading ---------------------------------------------------------------------------


def load(path: PathArg, ctid: str) -> ContainerConfig:
    """Read and validate a container's config file.

    Raises `NotFound` if the file is missing, `InvalidConfig("<path>:<line>: ...")` for a
    syntax error, an unknown key or a bad value.
    """
    return ContainerConfig.from_values(ctid, validate_text(_read(path), path))


def validate_text(text: str, path: PathArg = "<config>") -> dict[str, Any]:
    """Check config text; return its values by key name (only the keys present).

    `path` only names the text in errors. Used by `load` and by `hutch create --config FILE`.
    """
    import tomllib  # here, so that importing hutch.config stays cheap

    where = os.fspath(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, reason = _decode_error_position(str(exc), text)
        raise InvalidConfig(f"{where}:{line}: {reason}") from None

    values: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []  # (key name, reason)

    def walk(table: dict[str, Any], prefix: str) -> None:
        for k, value in table.items():
            name = prefix + k
            key = KEY_BY_NAME.get(name)
            if key is not None:
                try:
                    values[name] = key.check(value)
                except ValueError as exc:
                    problems.append((name, str(exc)))
            elif name in TABLES and isinstance(value, dict):
                walk(value, name + ".")
            elif name in TABLES:
                problems.append((name, f"must be a table such as [{name}]"))
            else:
                problems.append((name, _unknown_key_reason(name, value)))

    walk(data, "")
    if problems:
        lines = _key_lines(text)
        located = [(_line_of(lines, name), name, reason) for name, reason in problems]
        lineno, name, reason = min(located, key=lambda p: p[0] if p[0] is not None else 1 << 30)
        at = f"{where}:{lineno}" if lineno is not None else where
        raise InvalidConfig(f"{at}: {name}: {reason}")
    return values


def _read(path: PathArg) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise NotFound(f"config file {os.fspath(path)} not found") from None
    except OSError as exc:
        raise OperationFailed(f"cannot read {os.fspath(path)}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidConfig(f"{os.fspath(path)}:{line}: not valid UTF-8") from None


_TOMLLIB_POSITION = r"(.*) \(at (?:line (\d+), column (\d+)|end of document)\)"


def _decode_error_position(message: str, text: str) -> tuple[int, str]:
    """(line, reason) from a tomllib message like 'Invalid value (at line 3, column 7)'."""
    m = re.fullmatch(_TOMLLIB_POSITION, message)
    if not m:
        return 1, message
    if m.group(2) is None:  # at end of document: the last line
        return max(1, text.count("\n") + (not text.endswith("\n"))), f"{m.group(1)} (at end)"
    return int(m.group(2)), f"{m.group(1)} (column {m.group(3)})"


def _unknown_key_reason(name: str, value: object) -> str:
    import difflib  # only on this error path

    if isinstance(value, dict):
        what, names = "unknown table", sorted(TABLES)
    else:
        what, names = "unknown key", [key.name for key in KEYS]
    close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.7)
    return f"{what} (did you mean {close[0]}?)" if close else what


# Locating keys in the text. Enough of TOML to find where each key or [table] is first
# written: table headers, dotted and quoted keys, and multi-line strings to skip.
_BARE = r"[A-Za-z0-9_-]+"
_BASIC = r'"(?:[^"\\\n]|\\.)*"'
_LITERAL = r"'[^'\n]*'"
_PART = rf"(?:{_BARE}|{_BASIC}|{_LITERAL})"
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_KEYVAL = rf"\s*({_DOTTED})\s*=(.*)"
_HEADER = rf"\s*(\[\[?)\s*({_DOTTED})\s*\]\]?"
_PARTS = rf"\s*({_PART})\s*\.?"


def _split_key(dotted: str) -> list[str]:
    import tomllib

    parts = []
    for m in re.finditer(_PARTS, dotted):
        part = m.group(1)
        if part.startswith('"'):
            part = tomllib.loads(f"k = {part}")["k"]  # exact TOML unescaping
        elif part.startswith("'"):
            part = part[1:-1]
        parts.append(part)
    return parts


def _key_lines(text: str) -> dict[str, int]:
    """First 1-based line of every key and table by full dotted name, prefixes included."""
    found: dict[str, int] = {}
    table: list[str] = []
    closing: str | None = None  # the delimiter of the multi-line string we are inside

    def note(parts: list[str], lineno: int) -> None:
        for i in range(1, len(parts) + 1):
            found.setdefault(".".join(parts[:i]), lineno)

    for lineno, line in enumerate(text.splitlines(), start=1):
        if closing is not None:
            if closing in line:
                closing = None
            continue
        header = re.match(_HEADER, line)
        if header:
            table = _split_key(header.group(2))
            note(table, lineno)
            continue
        keyval = re.match(_KEYVAL, line)
        if keyval:
            note(table + _split_key(keyval.group(1)), lineno)
            rest = keyval.group(2).lstrip()
            for delim in ('"""', "'''"):
                if rest.startswith(delim) and delim not in rest[3:]:
                    closing = delim
    return found


def _line_of(lines: Mapping[str, int], name: str) -> int | None:
    """The line of `name`, else of its nearest enclosing table or inline table."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        line = lines.get(".".join(parts[:i]))
        if line is not None:
            return line
    return None


# -- writing ---------------------------------------------------------------------------


def save_changes(
    path: PathArg, changes: Mapping[str, object], remove: Set[str] = frozenset()
) -> None:
    """Change keys in a config file, keeping everything else byte for byte.

    `changes` maps key names to validated (typed) values; a value of None removes the key (back to
    its default), as do the names in `remove`. A changed key keeps its place and its
    comment; a new key goes after the last key of its table, a new table at the end. The
    result must pass `validate_text`, else `InvalidConfig` and the file is untouched.
    """
    import tomlkit
    from tomlkit.exceptions import ParseError

    where = os.fspath(path)
    real = os.path.realpath(path)  # write through a symlink, keep the link
    text = _read(real)
    try:
        doc = tomlkit.parse(text)
    except ParseError as exc:
        raise InvalidConfig(f"{where}:{exc.line}: cannot parse for editing: {exc}") from None

    for name in [*changes, *remove]:
        if name not in KEY_BY_NAME:
            raise InvalidConfig(f"{where}: {name}: unknown key")
    for name, value in changes.items():
        if value is None:
            _delete(doc, name)
            continue
        try:
            _assign(doc, name, value, tomlkit.table)
        except (TypeError, ValueError) as exc:  # tomlkit's ConvertError is both
            raise InvalidConfig(f"{where}: {name}: cannot write {value!r}: {exc}") from exc
    for name in remove:
        _delete(doc, name)

    new_text = tomlkit.dumps(doc)
    validate_text(new_text, where)
    if new_text != text:
        _write_atomic(real, new_text.encode("utf-8"))


def _assign(doc: Any, name: str, value: object, new_table: Any) -> None:
    parts = name.split(".")
    table = doc
    for part in parts[:-1]:
        if part not in table:
            table[part] = new_table()
        table = table[part]
    table[parts[-1]] = KEY_BY_NAME[name].render(value)  # typed value -> its TOML text


def _delete(doc: Any, name: str) -> None:
    parts = name.split(".")
    table = doc
    for part in parts[:-1]:
        if part not in table:
            return
        table = table[part]
    if parts[-1] in table:
        del table[parts[-1]]


def _write_atomic(path: str, data: bytes) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new file, never a mix,
    even after a crash: write a temporary file beside it, fsync, rename, fsync the directory.
    The file keeps its mode, and its owner when we are allowed to keep it."""
    import tempfile

    directory, base = os.path.split(path)
    try:
        st = os.stat(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OperationFailed(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), st.st_mode & 0o7777)
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
                except PermissionError:
                    pass  # not root: the file becomes ours, which is who may write it
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise OperationFailed(f"cannot write {path}: {exc.strerror}") from None
        raise
    try:  # make the rename itself durable; the new file is in place either way
        dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except OSError:
        pass


def render_new(ctid: str, values: Mapping[str, object]) -> str:
    """The text of a fresh config.toml for `hutch create`.

    `values` are validated values by key name. Written: `hostname` (or, when unset, a
    commented-out line showing the default), `template` when known, and every key whose
    value differs from its default, in registry order.
    """
    import tomlkit

    for name in values:
        if name not in KEY_BY_NAME:
            raise InvalidConfig(f"{name}: unknown key")
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"hutch container {ctid}"))
    hint = f"Edit this file, or change a key: hutch set {ctid} --onboot yes --save"
    doc.add(tomlkit.comment(hint))
    doc.add(tomlkit.nl())
    if values.get("hostname") is None:
        doc.add(tomlkit.comment(f'hostname = "{ctid}"  # unset: the container ID'))
    # Keys outside tables first: in TOML, a key after a [table] header belongs to it.
    ordered = sorted(KEYS, key=lambda k: "." in k.name)
    for key in ordered:
        value = values.get(key.name, key.default)
        if value is None:
            continue
        frozen = tuple(value) if isinstance(value, list) else value
        if key.name in ("hostname", "template") or frozen != key.default:
            _assign(doc, key.name, value, tomlkit.table)
    text = tomlkit.dumps(doc)
    validate_text(text, f"<new config of {ctid}>")
    return text
