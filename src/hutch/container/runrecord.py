"""The settings a running container runs with, beside its run state.

`config.toml` holds the saved settings, what the next start uses. What a container runs
with can differ: `hutch set` without `--save` changes the container and not the file, and
successive live changes must build on each other, not on the file. So every start and
restore writes the settings it used to /run/hutch/containers/ID.settings.json, every live
`set` rewrites it, and cleanup removes it with the run state (`RunState.remove`):

    {"ctid": "5", "pid": 4242, "starttime": 123456,
     "settings": {"hostname": null, "resources.memory": "300M", ...every key...}}

`pid` and `starttime` name the run it belongs to: a record of some earlier run is not this
one's. A file of its own, not a field of ID.json: `list` and `exec` read the run state on
every call and need none of this (the state-dir scans skip names with a dot in the ID).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from hutch.config import KEY_BY_NAME, KEYS, ContainerConfig
from hutch.container.state import RunState
from hutch.errors import StateConflict
from hutch.paths import Paths


def settings_json(cfg: ContainerConfig) -> dict[str, Any]:
    """Every key by name, as JSON holds it: rendered as config.toml writes it (lists for
    tuples), None for unset."""
    return {key.name: key.plain(cfg.get(key.name)) for key in KEYS}


def checked_settings(values: Mapping[str, object], where: str) -> dict[str, Any]:
    """Values by key name read from JSON (a record, a checkpoint, an API request) or given
    to the library, checked as a config file's are into typed values (`Key.accept`: typed
    values, their TOML form or command-line text); None stays None (the key's default).
    A bad one raises ValueError("<where>: <key>: <reason>"), for the caller to turn into
    its own error."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        key = KEY_BY_NAME.get(name)
        if key is None:
            raise ValueError(f"{where}: {name}: unknown key")
        try:
            out[name] = key.accept(value)
        except ValueError as e:
            raise ValueError(f"{where}: {name}: {e}") from None
    return out


def save(paths: Paths, st: RunState, cfg: ContainerConfig) -> None:
    """Record `cfg` as what the run `st` runs with (atomically: a reader sees the old record
    or the new one)."""
    path = paths.ct_settings(st.ctid)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"ctid": st.ctid, "pid": st.pid, "starttime": st.starttime}
    data["settings"] = settings_json(cfg)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def read(paths: Paths, st: RunState, saved: ContainerConfig) -> ContainerConfig | None:
    """The settings the run `st` records, or None when it has no record (started by a hutch
    before records were kept, or the record is of another run). A key the record lacks
    keeps its saved value. An unreadable record is an error naming the file."""
    path = paths.ct_settings(st.ctid)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise _unreadable(path, st.ctid, str(e)) from None
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        raise _unreadable(path, st.ctid, "no settings in it")
    if (data.get("pid"), data.get("starttime")) != (st.pid, st.starttime):
        return None  # an earlier run's
    try:
        values = checked_settings(data["settings"], str(path))
    except ValueError as e:
        raise _unreadable(path, st.ctid, str(e)) from None
    return saved.with_changes(values)


def _unreadable(path: os.PathLike[str], ctid: str, why: str) -> StateConflict:
    return StateConflict(
        f"{path}: unreadable settings record of running container {ctid} ({why})",
        hint=f"'hutch restart {ctid}' starts it again from config.toml",
    )
