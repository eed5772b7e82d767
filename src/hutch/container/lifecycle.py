"""Create, destroy and enumerate containers (the on-disk side; the daemon runs them)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from hutch.config import KEY_BY_NAME, ContainerConfig, load, render_new, validate_text
from hutch.container.ctid import container_ids, valid_id
from hutch.container.host import Host
from hutch.container.lock import container_lock
from hutch.container.rootfs import backend_of, make_storage
from hutch.container.state import running_state
from hutch.errors import AlreadyExists, InvalidConfig, NotFound, OperationFailed, StateConflict
from hutch.storage import templates


def exists(host: Host, ctid: str) -> bool:
    return host.paths.ct_config(ctid).is_file()


def require(host: Host, ctid: str) -> ContainerConfig:
    valid_id(ctid)
    if not exists(host, ctid):
        raise NotFound(f"container {ctid} does not exist", hint="see 'hutch list -a'")
    return load(host.paths.ct_config(ctid), ctid)


def list_ids(host: Host) -> list[str]:
    return container_ids(host.paths)


def create(
    host: Host,
    ctid: str,
    template: str | None = None,
    hostname: str | None = None,
    config_file: Path | None = None,
    settings: Mapping[str, object] | None = None,
) -> ContainerConfig:
    """Make the container's directory, config.toml and rootfs. All or nothing.

    `settings`: more validated values by key name (`storage.backend`, ...)."""
    valid_id(ctid)
    host.ensure_dirs()
    values: dict[str, object] = {}
    if config_file is not None:
        try:
            text = config_file.read_text()
        except OSError as e:
            raise NotFound(f"cannot read {config_file}: {e.strerror}") from None
        values.update(validate_text(text, str(config_file)))
    if hostname is not None:
        values["hostname"] = hostname
    values.update(settings or {})
    tmpl = template or str(values.get("template") or templates.DEFAULT_TEMPLATE)
    values["template"] = tmpl
    with (
        container_lock(host.paths, ctid),
        _idmap_chosen(host, values),
        _staged(host, ctid) as staging,
    ):
        cfg = _write_config(staging, ctid, values)
        make_storage(host.paths, cfg, staging)
        _write_hostname(staging, cfg)
    return cfg


@contextmanager
def _idmap_chosen(host: Host, values: dict[str, object]) -> Iterator[None]:
    """Pick the host IDs of a new unprivileged container (into `values`). An isolated block
    is held under a lock until the container exists, so two creates never pick the same."""
    from hutch.security import idmap

    if values.get("security.privileged"):
        yield
        return
    base = values.get("security.idmap_base")
    if isinstance(base, int):
        idmap.check_base(base)  # a --config file's base must be root's to give
        yield
        return

    mode = str(values.get("security.idmap") or "shared")
    if mode == "shared":
        values["security.idmap_base"] = idmap.allocate(mode, set())
        yield
        return
    fd = os.open(
        host.paths.containers / ".idmap.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        values["security.idmap_base"] = idmap.allocate(mode, _isolated_bases(host))
        yield
    finally:
        os.close(fd)


def _isolated_bases(host: Host) -> set[int]:
    taken = set()
    for other in list_ids(host):
        try:
            cfg = load(host.paths.ct_config(other), other)
        except InvalidConfig:
            continue  # a broken config holds no block anyone can use
        if cfg.security_idmap == "isolated" and cfg.security_idmap_base is not None:
            taken.add(cfg.security_idmap_base)
    return taken


@contextmanager
def _staged(host: Host, ctid: str) -> Iterator[Path]:
    """A container directory built aside (`.ID.creating`) and renamed into place when the
    block succeeds, removed when it fails: a container exists whole or not at all."""
    ctdir = host.paths.ct_dir(ctid)
    if ctdir.exists():
        raise AlreadyExists(f"container {ctid} already exists")
    staging = host.paths.containers / f".{ctid}.creating"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(mode=0o700)
        yield staging
        os.rename(staging, ctdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_config(staging: Path, ctid: str, values: Mapping[str, object]) -> ContainerConfig:
    (staging / "config.toml").write_text(render_new(ctid, values))
    return load(staging / "config.toml", ctid)


def _refuse_running(host: Host, ctid: str, hint: str) -> None:
    # the cgroup too: a lost state file must not let an operation pull the rootfs from
    # under running processes
    if running_state(host.paths, ctid) is not None or host.cgroups.find(ctid).pids():
        raise StateConflict(f"container {ctid} is running", hint=hint)


def _write_hostname(staging: Path, cfg: ContainerConfig) -> None:
    """A root on the host (dir): always, so the template's /etc/hostname never wins over the
    default (the ID); the other backends' inits write it at every start. Not strict: a clone
    copies a rootfs its container controls; a file it made unusable is skipped here and
    warned of at start."""
    if backend_of(cfg).root_on_host:
        from hutch.container.hostname import write_hostname_files

        write_hostname_files(str(staging / "rootfs"), cfg.effective_hostname, strict=False)


# per-container settings a clone does not inherit: they would clash with the source's
NOT_CLONED = ("hostname", "network.ip_address")


def clone(host: Host, ctid: str, new_id: str) -> ContainerConfig:
    """A new, independent container `new_id` with a copy of stopped `ctid`'s config and
    data (overlay: its upper layer only; image: a sparse copy). Its host name defaults to
    its ID, its MACs derive from its ID; venet addresses are not copied. All or nothing."""
    cfg = require(host, ctid)
    valid_id(new_id)
    if exists(host, new_id):
        raise AlreadyExists(f"container {new_id} already exists")
    host.ensure_dirs()
    values = {
        name: value
        for name, value in cfg.values().items()
        if name not in NOT_CLONED and value != KEY_BY_NAME[name].default
    }
    if cfg.security_idmap == "isolated":
        values.pop("security.idmap_base", None)  # a block of its own, its files shifted to it
    src_dir = host.paths.ct_dir(ctid)
    with container_lock(host.paths, ctid), container_lock(host.paths, new_id):
        _refuse_running(host, ctid, "stop it first, or clone a snapshot of it")
        with _idmap_chosen(host, values), _staged(host, new_id) as staging:
            new = _write_config(staging, new_id, values)
            backend = backend_of(cfg)
            backend.copy(src_dir, staging)
            backend.shift(staging, cfg.idmap, new.idmap)
            _write_hostname(staging, new)
    return new


def destroy(host: Host, ctid: str) -> None:
    """Remove a stopped container's directory, rootfs and logs."""
    require(host, ctid)
    with container_lock(host.paths, ctid):
        _refuse_running(host, ctid, "stop it first, or use 'destroy --force'")
        ctdir = host.paths.ct_dir(ctid)
        # rename first so a half-finished removal never looks like a container
        doomed = host.paths.containers / f".{ctid}.destroying"
        shutil.rmtree(doomed, ignore_errors=True)
        try:
            os.rename(ctdir, doomed)
        except OSError as e:
            raise OperationFailed(f"cannot remove {ctdir}: {e.strerror}") from None
        shutil.rmtree(doomed, ignore_errors=True)
        shutil.rmtree(host.paths.log / ctid, ignore_errors=True)
        try:
            os.unlink(host.paths.ct_lock(ctid))
        except FileNotFoundError:
            pass


__all__ = ["InvalidConfig", "clone", "create", "destroy", "exists", "list_ids", "require"]
