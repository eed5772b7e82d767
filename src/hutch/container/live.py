"""Apply setting changes to a running container, key by key, as `hutch set` asks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from hutch.config import KEY_BY_NAME, ContainerConfig, save_changes
from hutch.container.context import HostContext
from hutch.container.lock import container_lock
from hutch.container.state import RunState, running_state
from hutch.errors import InvalidConfig, OperationFailed, StateConflict


def _hostname(host: HostContext, st: RunState, cfg: ContainerConfig, old: ContainerConfig) -> None:
    from hutch.container.hostname import set_live_hostname, write_hostname_files

    # the files first: a refused one (the container's FIFO at /etc/hosts) stops the change
    # before the kernel's name moves
    with refused_files(cfg.ctid, "hostname"):
        write_hostname_files(f"/proc/{st.pid}/root", cfg.effective_hostname)
    set_live_hostname(st.pid, cfg.effective_hostname)
    st.hostname = cfg.effective_hostname
    st.save(host.paths)


@contextmanager
def refused_files(ctid: str, what: str) -> Iterator[None]:
    """A file of the rootfs hutch will not touch (hutch.linux.rootpath) as a one-line error:
    `cannot set hostname of 9: /etc/hosts in the container is a FIFO, not a regular file`."""
    from hutch.linux.rootpath import RootFileRefused

    try:
        yield
    except RootFileRefused as e:
        raise OperationFailed(f"cannot set {what} of {ctid}: {e}") from None
    except OSError as e:  # a read-only /etc, a full disk: the kernel's word for it
        raise OperationFailed(
            f"cannot set {what} of {ctid}: writing its files failed: {e.strerror or e}"
        ) from None


def _limits(
    host: HostContext, st: RunState, cfg: ContainerConfig, old: ContainerConfig
) -> list[str]:
    """All resource limits at once, recomputed from the whole new config."""
    return host.cgroups.apply(st.cgroups, limits_of(cfg))


def limits_of(cfg: ContainerConfig):  # -> Limits
    from hutch.cgroups.limits import from_config

    try:
        return from_config(cfg)
    except ValueError as e:  # an IO rule naming a device the host does not have
        raise InvalidConfig(f"container {cfg.ctid}: {e}") from None


Applier = Callable[[HostContext, RunState, ContainerConfig, ContainerConfig], "list[str] | None"]


def _network(host: HostContext, st: RunState, cfg: ContainerConfig, old: ContainerConfig) -> None:
    """Interfaces, venet addresses, DNS, NAT and port forwards: made to match the new
    config in place."""
    from hutch.linux.worker import run_in_worker
    from hutch.network import nat, portfilter
    from hutch.network import setup as netsetup
    from hutch.network.plan import addresses, network_plan
    from hutch.network.resolv import write_resolv_conf

    with refused_files(cfg.ctid, "nameserver"):
        write_resolv_conf(f"/proc/{st.pid}/root", cfg)
    root = str(host.paths.root)
    before, after = network_plan(old, root), network_plan(cfg, root)
    nat_changed = nat.rules_for(old) != nat.rules_for(cfg)
    filter_changed = old.network_allow_spoof != cfg.network_allow_spoof
    if before == after and not nat_changed and not filter_changed:
        return
    if before != after:
        if old.network_mode != "private":
            raise StateConflict(f"container {cfg.ctid} shares the host's network: nothing to set")
        empty: dict = {"host_ifs": [], "proxies": [], "bridges": [], "netdevs": []}
        st.net = run_in_worker(netsetup.reconcile, before, after, st.pid, st.net or empty)
    if nat_changed:
        st.net = nat.apply(host.paths, cfg, st.net or {})
    if cfg.network_mode == "private" and (before != after or filter_changed):
        # new links or addresses, other groups allowed: the table follows
        allow = cfg.network_allow_spoof
        st.net = portfilter.apply(host.paths, cfg.ctid, after, allow, st.net or {})
    st.ips = addresses(cfg)
    st.save(host.paths)


def _diskspace(
    host: HostContext, st: RunState, cfg: ContainerConfig, old: ContainerConfig
) -> list[str]:
    """Grow the image live (never shrunk: refused before anything changes)."""
    from hutch.storage.backends import grow_image

    if cfg.storage_backend != "image":
        return [f"the {cfg.storage_backend} backend has no disk quota: --diskspace is only kept"]
    grow_image(host.paths, cfg, st.pid)
    return []


def applier(name: str) -> Applier | None:
    """How a key is applied to a running container. Keys only read when needed
    (stop_timeout, onboot, description) have none: they take effect by being saved."""
    if name == "hostname":
        return _hostname
    if name.startswith(("resources.", "ubc.")):
        return _limits
    if name.startswith("network.") and name != "network.mode":
        return _network
    if name == "storage.diskspace":
        return _diskspace
    return None


def apply_settings(
    host: HostContext, cfg: ContainerConfig, changes: Mapping[str, Any], save: bool
) -> list[str]:
    """Apply `changes` live (if running) and save them (if asked). Returns what was done.

    Everything is checked before anything changes, so a refused setting changes nothing.
    """
    ctid = cfg.ctid
    with container_lock(host.paths, ctid):
        st = running_state(host.paths, ctid)
        new = cfg.with_changes(changes)
        if st is None and not save:
            raise StateConflict(
                f"container {ctid} is stopped: nothing to apply live",
                hint="add --save to keep the settings for its next start",
            )
        if st is not None:
            for name in changes:
                key = KEY_BY_NAME[name]
                if not save and (not key.live or applier(name) is None):
                    raise StateConflict(
                        f"{key.option} cannot be applied to a running container"
                        if not key.live
                        else f"{key.option} only takes effect when saved",
                        hint="add --save (it then applies from the next start)"
                        if not key.live
                        else "add --save",
                    )
        if any(n.startswith(("resources.", "ubc.")) for n in changes):
            limits_of(new)  # refuse a bad limit before anything changes
        if "storage.diskspace" in changes:
            from hutch.storage.backends import check_resize

            check_resize(host.paths, new)  # an image never shrinks
        done = []
        if st is not None:
            applied: list[Applier] = []
            try:
                for name in changes:
                    fn = applier(name)
                    if fn is None or fn in applied:
                        continue
                    applied.append(fn)
                    for warning in fn(host, st, new, cfg) or []:
                        done.append(f"warning: {warning}")
            except BaseException:
                # the kernel refused part of it: put back what was applied (best effort)
                for fn in reversed(applied):
                    try:
                        fn(host, st, cfg, new)
                    except Exception:  # the first error is the one to report
                        pass
                raise
            live = [KEY_BY_NAME[n].flag for n in changes if applier(n) is not None]
            if live:
                done.insert(0, "applied " + ", ".join(live))
        else:
            if "hostname" in changes and new.storage_backend == "dir":
                # (overlay and image roots get theirs from the init at every start)
                from hutch.container.hostname import write_hostname_files

                with refused_files(ctid, "hostname"):
                    write_hostname_files(str(host.paths.ct_rootfs(ctid)), new.effective_hostname)
            if "storage.diskspace" in changes and save:
                from hutch.storage.backends import grow_image

                if grow_image(host.paths, new, None):
                    done.append("grew the image")
        if save:
            save_changes(host.paths.ct_config(ctid), dict(changes))
            done.append("saved")
        return done
