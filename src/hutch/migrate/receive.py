"""The target's side of a migration, run there by the source as `hutch receive ACTION ID`
(a hidden verb); every action answers one JSON line.

    hello ID            version, root, whether ID is taken, hutchd's pid (started if needed)
    prepare ID          an empty staging directory `.ID.migrating` for the copy (and one for
                        the checkpoint images, `.ID.images`)
    template NAME       whether the template is in this host's cache, and where the cache is
    adopt ID            the staging directory becomes container ID: its ID block chosen here
                        (its files shifted when it differs), marked unfinished (`.migrating`)
    daemon ID           check that hutchd is still the one `hello` saw
    start ID            start it, only through the hutchd `hello` saw (a target whose hutchd
                        died during the migration is not one to hand a container to)
    commit ID           the migration is done: the mark goes
    abort ID            remove what this migration left: staging, images, and the container
                        only if it still bears the unfinished mark (never one that was there)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

from hutch.config import ContainerConfig, load, save_changes
from hutch.container import lifecycle
from hutch.container.host import Host
from hutch.container.lock import container_lock
from hutch.container.rootfs import backend_of, rootfs_of
from hutch.errors import (
    AlreadyExists,
    DaemonError,
    HutchError,
    InvalidConfig,
    NotFound,
    StateConflict,
)

MARK = ".migrating"


def staging_dir(host: Host, ctid: str) -> Path:
    return host.paths.containers / f".{ctid}.migrating"


def images_dir(host: Host, ctid: str) -> Path:
    return host.paths.containers / f".{ctid}.images"


def daemon_pid(host: Host) -> int | None:
    try:
        pid = int(host.paths.daemon_pidfile.read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def hello(host: Host, ctid: str, verbs: list[str]) -> dict[str, Any]:
    """`verbs`: those of this host's CLI (whether it can `restore`)."""
    from hutch import __version__
    from hutch.api.client import Client
    from hutch.security import idmap

    host.ensure_dirs()
    Client(host.paths).start_daemon()
    try:
        shared: int | None = idmap.allocate("shared", set())
    except HutchError:
        shared = None
    return {
        "version": __version__,
        "root": str(host.paths.root),
        "exists": lifecycle.exists(host, ctid),
        "hutchd_pid": daemon_pid(host),
        "verbs": sorted(verbs),
        "shared_base": shared,
    }


def prepare(host: Host, ctid: str) -> dict[str, Any]:
    host.ensure_dirs()
    if lifecycle.exists(host, ctid):
        raise AlreadyExists(f"container {ctid} already exists")
    with container_lock(host.paths, ctid):
        out = {}
        for name, d in (("staging", staging_dir(host, ctid)), ("images", images_dir(host, ctid))):
            shutil.rmtree(d, ignore_errors=True)  # what an earlier, broken migration left
            d.mkdir(mode=0o700)
            out[name] = str(d)
    return out


def template(host: Host, name: str) -> dict[str, Any]:
    from hutch.storage.cache import find_template

    try:
        find_template(host.paths, name)
        present = True
    except NotFound:
        present = False
    host.ensure_dirs()
    return {"present": present, "cache": str(host.paths.templates)}


def adopt(host: Host, ctid: str, keep_base: bool = False) -> dict[str, Any]:
    staging = staging_dir(host, ctid)
    ctdir = host.paths.ct_dir(ctid)
    with container_lock(host.paths, ctid), _idmap_lock(host):
        if ctdir.exists():
            raise AlreadyExists(f"container {ctid} already exists")
        if not (staging / "config.toml").is_file():
            raise NotFound(f"no copy of container {ctid} was received (no {staging}/config.toml)")
        cfg = load(staging / "config.toml", ctid)
        _consented(host, cfg)
        old = cfg.idmap
        base = _choose_base(host, cfg.security_idmap, old.base if old else None)
        if keep_base and base != (old.base if old else None):
            raise StateConflict(
                f"container {ctid} needs host IDs {old.base if old else '-'}.. here for a live "
                f"migration, but this host gives it {base}",
                hint="migrate it offline (its files are shifted then)",
            )
        if old is not None and base != old.base:
            save_changes(staging / "config.toml", {"security.idmap_base": base})
            cfg = load(staging / "config.toml", ctid)
        backend = backend_of(cfg)
        backend.receive(host.paths, rootfs_of(host.paths, cfg, staging))
        backend.shift(staging, old, cfg.idmap)
        (staging / MARK).write_text("unfinished: 'hutch receive abort' removes this container\n")
        os.rename(staging, ctdir)
    return {"ctid": ctid, "idmap_base": base, "shifted": old is not None and base != old.base}


HOST_SETTINGS = "hutch.toml"  # in this host's etc/hutch: settings of the host, not of one container


def accepted(host: Host) -> set[str]:
    """The weakening keys this host's operator accepts from a sender: `[migrate] accept` in
    etc/hutch/hutch.toml, a list of key names, or `["all"]`. Absent: none."""
    import tomllib

    path = host.paths.etc / HOST_SETTINGS
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return set()
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InvalidConfig(f"{path}: {e}") from None
    table = data.get("migrate", {})
    names = table.get("accept", []) if isinstance(table, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidConfig(f"{path}: migrate.accept: expected a list of key names")
    from hutch.config.weakening import WEAKENS

    unknown = set(names) - set(WEAKENS) - {"all"}
    if unknown:
        raise InvalidConfig(
            f"{path}: migrate.accept: {', '.join(sorted(unknown))}: not a key that needs "
            f"consent (one of: all, {', '.join(WEAKENS)})"
        )
    return set(WEAKENS) if "all" in names else set(names)


def _consented(host: Host, cfg: ContainerConfig) -> None:
    """Refuse a received config that loosens confinement unless this host's operator
    accepted each such key: the sender's say-so is not this host's consent."""
    from hutch.config.weakening import weakened

    refused = {k: v for k, v in weakened(cfg).items() if k not in accepted(host)}
    if refused:
        what = ", ".join(f"{k} = {json.dumps(v)}" for k, v in refused.items())
        raise InvalidConfig(
            f"container {cfg.ctid} is refused here: its config weakens confinement ({what})",
            hint=f"this host's operator may accept it: [migrate] accept = "
            f"{json.dumps(sorted(refused))} in {host.paths.etc / HOST_SETTINGS}",
        )


def _choose_base(host: Host, mode: str, old: int | None) -> int | None:
    """The container's ID block here: none (privileged), this host's shared block, or for an
    isolated one its old block when that is free here (no shift), else a free one."""
    if old is None:
        return None
    from hutch.security import idmap

    if mode == "shared":
        return idmap.allocate("shared", set())
    taken = set()
    for other in lifecycle.list_ids(host):
        with contextlib.suppress(Exception):
            c = load(host.paths.ct_config(other), other)
            if c.security_idmap == "isolated" and c.security_idmap_base is not None:
                taken.add(c.security_idmap_base)
    if old in idmap.blocks()[1:] and old not in taken:
        return old
    return idmap.allocate("isolated", taken)


@contextlib.contextmanager
def _idmap_lock(host: Host):  # type: ignore[no-untyped-def]
    # the lock `hutch create` holds while it picks an isolated block
    fd = os.open(
        host.paths.containers / ".idmap.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def daemon(host: Host, ctid: str, expected_daemon: int | None) -> dict[str, Any]:
    _same_daemon(host, expected_daemon)
    return {"ctid": ctid, "hutchd_pid": expected_daemon}


def start(host: Host, ctid: str, expected_daemon: int | None) -> dict[str, Any]:
    from hutch.api.client import Client

    _same_daemon(host, expected_daemon)
    result = Client(host.paths, autostart=False).call("POST", f"/v1/containers/{ctid}/start", {})
    return dict(result) if isinstance(result, dict) else {"result": result}


def _same_daemon(host: Host, expected: int | None) -> None:
    now = daemon_pid(host)
    if expected is not None and now != expected:
        raise DaemonError(
            f"hutchd {expected} of this host exited during the migration"
            + (f" (now {now})" if now else "")
        )


def commit(host: Host, ctid: str) -> dict[str, Any]:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(host.paths.ct_dir(ctid) / MARK)
    shutil.rmtree(images_dir(host, ctid), ignore_errors=True)
    return {"ctid": ctid, "committed": True}


def abort(host: Host, ctid: str) -> dict[str, Any]:
    removed = []
    for d in (staging_dir(host, ctid), images_dir(host, ctid)):
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    ctdir = host.paths.ct_dir(ctid)
    if (ctdir / MARK).is_file():
        from hutch.container.state import running_state

        if running_state(host.paths, ctid) is not None or host.cgroups.find(ctid).pids():
            from hutch.api.client import Client

            # a new hutchd re-adopts a container the dead one started, and kills it
            Client(host.paths).call("POST", f"/v1/containers/{ctid}/stop", {"kill": True})
        lifecycle.destroy(host, ctid)
        removed.append(str(ctdir))
    return {"ctid": ctid, "removed": removed}
