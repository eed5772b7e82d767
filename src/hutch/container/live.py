"""Apply setting changes to a running container, key by key, as `hutch set` asks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hutch.config import KEY_BY_NAME, ContainerConfig, save_changes
from hutch.container.host import Host
from hutch.container.lock import container_lock
from hutch.container.state import RunState, running_state
from hutch.errors import StateConflict


def _hostname(host: Host, st: RunState, cfg: ContainerConfig) -> None:
    from hutch.container.hostname import set_live_hostname, write_hostname_files

    set_live_hostname(st.pid, cfg.effective_hostname)
    write_hostname_files(f"/proc/{st.pid}/root", cfg.effective_hostname)


# key -> how to apply it to a running container. Keys that are only read when needed
# (stop_timeout, onboot, description) take effect by being saved.
APPLIERS: dict[str, Callable[[Host, RunState, ContainerConfig], None]] = {
    "hostname": _hostname,
}


def apply_settings(
    host: Host, cfg: ContainerConfig, changes: Mapping[str, Any], save: bool
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
                if not save and (not key.live or name not in APPLIERS):
                    raise StateConflict(
                        f"{key.option} cannot be applied to a running container"
                        if not key.live
                        else f"{key.option} only takes effect when saved",
                        hint="add --save (it then applies from the next start)"
                        if not key.live
                        else "add --save",
                    )
        done = []
        if st is not None:
            for name in changes:
                if name in APPLIERS:
                    APPLIERS[name](host, st, new)
                    done.append(f"{name} applied")
        elif "hostname" in changes:
            from hutch.container.hostname import write_hostname_files

            write_hostname_files(str(host.paths.ct_rootfs(ctid)), new.effective_hostname)
        if save:
            save_changes(host.paths.ct_config(ctid), dict(changes))
            done.append("saved")
        return done
