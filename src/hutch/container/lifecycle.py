"""Create, destroy and enumerate containers (the on-disk side; the daemon runs them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hutch import ids
from hutch.config import ContainerConfig, load, render_new, validate_text
from hutch.container.host import Host
from hutch.container.lock import container_lock
from hutch.container.state import running_state
from hutch.errors import AlreadyExists, InvalidConfig, NotFound, OperationFailed, StateConflict
from hutch.storage import templates


def exists(host: Host, ctid: str) -> bool:
    return host.paths.ct_config(ctid).is_file()


def require(host: Host, ctid: str) -> ContainerConfig:
    ids.validate(ctid)
    if not exists(host, ctid):
        raise NotFound(f"container {ctid} does not exist", hint="see 'hutch list -a'")
    return load(host.paths.ct_config(ctid), ctid)


def list_ids(host: Host) -> list[str]:
    from hutch.container.info import container_ids

    return container_ids(host.paths)


def create(
    host: Host,
    ctid: str,
    template: str | None = None,
    hostname: str | None = None,
    config_file: Path | None = None,
) -> ContainerConfig:
    """Make the container's directory, config.toml and rootfs. All or nothing."""
    ids.validate(ctid)
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
    tmpl = template or str(values.get("template") or templates.DEFAULT_TEMPLATE)
    values["template"] = tmpl
    with container_lock(host.paths, ctid):
        ctdir = host.paths.ct_dir(ctid)
        if ctdir.exists():
            raise AlreadyExists(f"container {ctid} already exists")
        staging = host.paths.containers / f".{ctid}.creating"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            staging.mkdir(mode=0o700)
            templates.install(host.paths, tmpl, staging / "rootfs")
            (staging / "config.toml").write_text(render_new(ctid, values))
            cfg = load(staging / "config.toml", ctid)
            # always: the template's /etc/hostname must not win over the default (the ID)
            _write_hostname(staging / "rootfs", cfg.effective_hostname)
            os.rename(staging, ctdir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return cfg


def _write_hostname(rootfs: Path, hostname: str) -> None:
    from hutch.container.hostname import write_hostname_files

    write_hostname_files(str(rootfs), hostname)


def destroy(host: Host, ctid: str) -> None:
    """Remove a stopped container's directory, rootfs and logs."""
    require(host, ctid)
    with container_lock(host.paths, ctid):
        # the cgroup too: a lost state file must not let destroy pull the rootfs from under
        # running processes
        if running_state(host.paths, ctid) is not None or host.cgroups.find(ctid).pids():
            raise StateConflict(
                f"container {ctid} is running", hint="stop it first, or use 'destroy --force'"
            )
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


__all__ = ["InvalidConfig", "create", "destroy", "exists", "list_ids", "require"]
