"""Change a container's settings, as `hutch set` asks: live, key by key, on a running
container and in its settings record (hutch.container.runrecord); with `save` also in
config.toml.

    change_settings(host, ctid, changes, save, add=, remove=) -> SetResult
    effective_config(host, ctid) -> ContainerConfig   what it runs with (else the file)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hutch.config import KEY_BY_NAME, ContainerConfig, save_changes
from hutch.container import lifecycle, runrecord
from hutch.container.host import Host
from hutch.container.lock import container_lock
from hutch.container.settings import edited, refuse_fixed
from hutch.container.state import RunState, running_state
from hutch.errors import InvalidConfig, OperationFailed, StateConflict, UsageError


def _hostname(host: Host, st: RunState, cfg: ContainerConfig, old: ContainerConfig) -> None:
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


def _limits(host: Host, st: RunState, cfg: ContainerConfig, old: ContainerConfig) -> list[str]:
    """All resource limits at once, recomputed from the whole new config."""
    return host.cgroups.apply(st.cgroups, limits_of(cfg))


def limits_of(cfg: ContainerConfig):  # -> Limits
    from hutch.container.limits import from_config

    try:
        return from_config(cfg)
    except ValueError as e:  # an IO rule naming a device the host does not have
        raise InvalidConfig(f"container {cfg.ctid}: {e}") from None


Applier = Callable[[Host, RunState, ContainerConfig, ContainerConfig], "list[str] | None"]


def _network(host: Host, st: RunState, cfg: ContainerConfig, old: ContainerConfig) -> None:
    """Interfaces, venet addresses, DNS, NAT and port forwards: made to match the new
    config in place."""
    from hutch.container.netplan import addresses, nat_rules, network_plan, write_resolv_conf
    from hutch.network import nat, portfilter
    from hutch.network import setup as netsetup

    with refused_files(cfg.ctid, "nameserver"):
        write_resolv_conf(f"/proc/{st.pid}/root", cfg)
    root = str(host.paths.root)
    before, after = network_plan(old, root), network_plan(cfg, root)
    rules = nat_rules(cfg, after)
    nat_changed = nat_rules(old, before) != rules
    filter_changed = old.network_allow_spoof != cfg.network_allow_spoof
    if before == after and not nat_changed and not filter_changed:
        return
    if before != after:
        if not before.own_netns:
            raise StateConflict(f"container {cfg.ctid} shares the host's network: nothing to set")
        st.net = netsetup.reconcile(before, after, st.pid, st.net)
    if nat_changed:
        st.net = nat.apply(host.paths, cfg.ctid, rules, st.net)
    if after.own_netns and (before != after or filter_changed):
        # new links or addresses, other groups allowed: the table follows
        allow = cfg.network_allow_spoof
        st.net = portfilter.apply(host.paths, cfg.ctid, after, allow, st.net)
    st.ips = addresses(cfg)
    st.save(host.paths)


def _diskspace(host: Host, st: RunState, cfg: ContainerConfig, old: ContainerConfig) -> list[str]:
    """Grow the image live (never shrunk: refused before anything changes)."""
    from hutch.container.rootfs import backend_of, grow

    backend = backend_of(cfg)
    if not backend.has_quota:
        return [f"the {backend.name} backend has no disk quota: --diskspace is only kept"]
    grow(host.paths, cfg, st.pid)
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


@dataclass(frozen=True)
class SetResult:
    """What a `change_settings` did."""

    applied: tuple[str, ...] = ()  # key names applied to the running container, in order
    warnings: tuple[str, ...] = ()  # what the kernel or the backend could not do
    saved: bool = False  # config.toml was written
    grown: bool = False  # a stopped container's image was grown to its new --diskspace

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": list(self.applied),
            "warnings": list(self.warnings),
            "saved": self.saved,
            "grown": self.grown,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SetResult:
        return cls(
            applied=tuple(data.get("applied") or ()),
            warnings=tuple(data.get("warnings") or ()),
            saved=bool(data.get("saved")),
            grown=bool(data.get("grown")),
        )


def effective_config(host: Host, ctid: str) -> ContainerConfig:
    """The settings container `ctid` runs with: its record while it runs, else (stopped, or
    started by a hutch that kept no record) config.toml. `NotFound` for no such container."""
    saved = lifecycle.require(host, ctid)
    return _effective(host, running_state(host.paths, ctid), saved)


def _effective(host: Host, st: RunState | None, saved: ContainerConfig) -> ContainerConfig:
    if st is None:
        return saved
    recorded = runrecord.read(host.paths, st, saved)
    return saved if recorded is None else recorded


def change_settings(
    host: Host,
    ctid: str,
    changes: Mapping[str, Any],
    save: bool = False,
    add: Mapping[str, Sequence[str]] | None = None,
    remove: Mapping[str, Sequence[str]] | None = None,
) -> SetResult:
    """Change settings of container `ctid`, under its lock.

    `changes`: validated values by key name (None: back to the default); `add`/`remove`:
    items of list keys by key name, as the CLI gives them (`{"network.ip_address":
    ["198.18.60.5"]}`; remove "all" empties the list), applied to what the container runs
    with. Running: the changes apply live and to its settings record, so successive
    changes accumulate; with `save` also to config.toml (only the keys named). Stopped:
    only with `save`. Everything is checked before anything changes, so a refused setting
    changes nothing."""
    lifecycle.require(host, ctid)
    with container_lock(host.paths, ctid):
        saved = lifecycle.require(host, ctid)  # read under the lock: a --save may have ended
        refuse_fixed(saved, changes)  # (items are never of those keys)
        st = running_state(host.paths, ctid)
        if st is None and not save:
            raise StateConflict(
                f"container {ctid} is stopped: nothing to apply live",
                hint="add --save to keep the settings for its next start",
            )
        old = _effective(host, st, saved)
        changes = edited(old, saved, changes, add or {}, remove or {}, save)
        if not changes:
            raise UsageError("nothing to set", hint="name at least one setting to change")
        if st is not None and not save:
            for name in changes:
                key = KEY_BY_NAME[name]
                if not key.live or applier(name) is None:
                    raise StateConflict(
                        f"{key.option} cannot be applied to a running container"
                        if not key.live
                        else f"{key.option} only takes effect when saved",
                        hint="add --save (it then applies from the next start)"
                        if not key.live
                        else "add --save",
                    )
        # what runs: the live keys (a key without an applier, read when needed, is live by
        # being saved); the others wait in the file for the next start
        new = old.with_changes({n: v for n, v in changes.items() if KEY_BY_NAME[n].live})
        new_saved = saved.with_changes(changes)
        if any(n.startswith(("resources.", "ubc.")) for n in changes):
            # refuse a bad limit before anything changes
            for cfg in [new] * (st is not None) + [new_saved] * save:
                limits_of(cfg)
        if "storage.diskspace" in changes:
            from hutch.container.rootfs import check_resize

            check_resize(host.paths, new if st is not None else new_saved)  # never shrinks
        if st is not None:
            applied, warnings = _apply_live(host, st, new, old, changes)
            runrecord.save(host.paths, st, new)
            result = SetResult(applied=applied, warnings=warnings)
        else:
            result = SetResult(grown=_apply_stopped(host, new_saved, changes))
        if save:
            save_changes(host.paths.ct_config(ctid), dict(changes))
            result = SetResult(result.applied, result.warnings, True, result.grown)
        return result


def _apply_live(
    host: Host,
    st: RunState,
    new: ContainerConfig,
    old: ContainerConfig,
    changes: Mapping[str, Any],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Each applier once, in the order of `changes`; all or nothing. Returns the keys
    applied and the warnings."""
    done: list[Applier] = []
    warnings: list[str] = []
    try:
        for name in changes:
            fn = applier(name)
            if fn is None or fn in done:
                continue
            done.append(fn)
            warnings += fn(host, st, new, old) or []
    except BaseException:
        # the kernel refused part of it: put back what was applied (best effort)
        for fn in reversed(done):
            try:
                fn(host, st, old, new)
            except Exception:  # the first error is the one to report
                pass
        raise
    return tuple(n for n in changes if applier(n) is not None), tuple(warnings)


def _apply_stopped(host: Host, new: ContainerConfig, changes: Mapping[str, Any]) -> bool:
    """What a saved change does to a stopped container's files; True if its image grew."""
    from hutch.container.rootfs import backend_of

    if "hostname" in changes and backend_of(new).root_on_host:
        # (overlay and image roots get theirs from the init at every start)
        from hutch.container.hostname import write_hostname_files

        with refused_files(new.ctid, "hostname"):
            write_hostname_files(str(host.paths.ct_rootfs(new.ctid)), new.effective_hostname)
    if "storage.diskspace" in changes:
        from hutch.container.rootfs import grow

        return bool(grow(host.paths, new, None))
    return False
