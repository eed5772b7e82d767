"""Start and clean up one container: the synchronous steps hutchd drives.

`prepare_start` builds everything a start needs and `launch` spawns the init; `cleanup`
removes what a stopped container leaves (cgroups, state). Each step registers its undo, so a
failed start leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from hutch.cgroups.base import Cgroup
from hutch.config import ContainerConfig, signal_number
from hutch.container.confinement import record_of
from hutch.container.host import Host
from hutch.container.initsys import detect_init, poweroff_signal
from hutch.container.live import limits_of
from hutch.container.mounts import (
    DEFAULT_DEVICES,
    TTY_GID,
    cgroup_plan,
    console_plan,
    container_plan,
    lxcfs_proc_files,
    outside_plan,
    shm_size_for,
)
from hutch.container.netplan import (
    addresses,
    nat_rules,
    network_plan,
    own_netns,
    write_resolv_conf,
)
from hutch.container.nsflags import NAMESPACE_FLAGS
from hutch.container.spawn import InitSpec, kill_and_reap, spawn
from hutch.container.state import RunState, proc_starttime
from hutch.errors import HutchError, InvalidConfig, NotFound, OperationFailed, StateConflict
from hutch.linux import syscalls as sc
from hutch.network import nat, portfilter
from hutch.network import setup as netsetup
from hutch.network.spec import NetRecord
from hutch.security import confine, devices
from hutch.security.idmap import check_base
from hutch.security.idmap import mode as idmap_mode

log = logging.getLogger(__name__)


@dataclass
class Started:
    state: RunState
    console_master: int | None
    warnings: list[str]


def launch(host: Host, cfg: ContainerConfig, with_console: bool = True) -> Started:
    """Create the cgroup and console, spawn the init, record the state. All or nothing."""
    ctid = cfg.ctid
    rootfs = host.paths.ct_rootfs(ctid)
    if not rootfs.is_dir():
        raise NotFound(f"container {ctid} has no root filesystem at {rootfs}")
    host.ensure_dirs()
    ctdir = host.paths.ct_dir(ctid)
    if ctdir.stat().st_mode & 0o077:
        # made 0700 at create; a directory a migration or an import brought is made so here:
        # no host user may traverse into the rootfs (its setuid binaries, its devices)
        os.chmod(ctdir, 0o700)
    from hutch.container import rootfs as storage
    from hutch.container.hostname import write_hostname_files

    root_mount = storage.root_mount(host.paths, cfg)
    storage.grow(host.paths, cfg, None)  # a --diskspace saved while stopped
    if root_mount is None and cfg.hostname is not None:
        # a configured host name wins over a live, unsaved `set` (the init reads these files);
        # not strict: junk the container left in its own /etc is skipped with a warning
        root_warnings = write_hostname_files(str(rootfs), cfg.hostname, strict=False)
    else:
        root_warnings = []
    if cfg.idmap is not None:
        check_base(cfg.idmap.base)  # a hand-edited config.toml: only root's own IDs
    elif not cfg.security_privileged:
        # a config.toml cut short (or edited) lost its base: that must not make the
        # container privileged, which is an explicit opt-in
        raise InvalidConfig(
            f"{host.paths.ct_config(ctid)}: security.idmap_base is missing and "
            "security.privileged is not true",
            hint="restore the idmap_base line, or set privileged = true under [security] "
            "if it is meant to be privileged",
        )
    undo: list = []
    try:
        cg, warnings = make_cgroup(host, cfg, undo)
        warnings = root_warnings + warnings
        idmap = cfg.idmap
        plan = network_plan(cfg, str(host.paths.root))
        wanted_nat = nat_rules(cfg, plan)  # a bad forward refuses the start before it begins
        root_files: Callable[[str], None] | None = None
        if root_mount is None:
            warnings += write_resolv_conf(str(rootfs), cfg, strict=False)
        else:
            # the root exists only in the init's mount namespace: it writes them there (and,
            # having no way back to the caller but its error pipe, logs what it skipped)

            def _root_files(root: str) -> None:
                for w in write_hostname_files(
                    root, cfg.effective_hostname, strict=False
                ) + write_resolv_conf(root, cfg, strict=False):
                    log.warning("%s: %s", ctid, w)

            root_files = _root_files

        net_record = NetRecord()

        def before_go(init_pid: int) -> None:
            nonlocal net_record
            # interfaces go in after the namespaces exist and before the init runs
            if plan.has_network:
                net_record = netsetup.start(plan, init_pid)
                # before the init runs: its first frame already meets the filter
                net_record = portfilter.apply(
                    host.paths, ctid, plan, cfg.network_allow_spoof, net_record
                )
            if wanted_nat:  # in the host's namespace: hutchd's own
                net_record = nat.apply(host.paths, ctid, wanted_nat, net_record)

        security = record_of(cfg)
        master = slave = None
        if with_console:
            master, slave = make_console(cfg, undo)
        spec = InitSpec(
            ctid=ctid,
            rootfs=str(rootfs),
            hostname=cfg.effective_hostname,
            argv=tuple(cfg.init),
            plan=tuple(
                container_plan(
                    lxcfs_proc_files(),
                    own_net=plan.own_netns,
                    owner=0 if idmap is None else idmap.to_host(0),
                    shm_size=shm_size_for(limits_of(cfg).memory_max),
                )
            ),
            outside_plan=outside_plan_of(cfg),
            console_plan=tuple(console_plan(os.ttyname(slave) if slave is not None else None)),
            cgroup=cg,
            console_fd=slave,
            env=tuple(cfg.environment),
            cgroup_plan=tuple(cgroup_plan(host.cgroups.container_mounts())),
            namespaces=NAMESPACE_FLAGS if plan.own_netns else NAMESPACE_FLAGS & ~sc.CLONE_NEWNET,
            root_mount=root_mount,
            root_files=root_files,
            confinement=confine.prepare(security),
            idmap=idmap,
        )
        try:
            pid = spawn(spec, before_go)
        except BaseException:
            if net_record.nft:
                _drop_nat(host, ctid)
            if net_record.portfilter:
                drop_filter(host, ctid)
            if net_record.holds_links:  # the namespace died with the init; the host's not
                netsetup.stop(net_record, None)
            raise
        finally:
            if slave is not None:
                os.close(slave)
        undo.append(lambda: kill_and_reap(pid))
        if net_record.holds_links:
            undo.append(lambda: netsetup.stop(net_record, None))
        if net_record.nft:
            undo.append(lambda: _drop_nat(host, ctid))
        if net_record.portfilter:
            undo.append(lambda: drop_filter(host, ctid))
        starttime = proc_starttime(pid)
        if starttime is None:
            raise OperationFailed(f"container {ctid}: init exited right after it started")
        if cfg.stop_signal:
            stop_sig = signal_number(cfg.stop_signal)
        else:
            seen = str(rootfs) if root_mount is None else f"/proc/{pid}/root"
            stop_sig = poweroff_signal(detect_init(seen, cfg.init[0]))
        state = RunState(
            ctid=ctid,
            pid=pid,
            starttime=starttime,
            started_at=time.time(),
            cgroup=cg.to_json(),
            console=master is not None,
            init=cfg.init[0],
            stop_signal=int(stop_sig),
            net=net_record,
            hostname=cfg.effective_hostname,
            ips=addresses(cfg),
            security=security,
            idmap_base=cfg.userns.base,  # 0 for a privileged container: its IDs are the host's
            idmap=idmap_mode(cfg.idmap, cfg.security_idmap),
        )
        record_settings(host, state, cfg, undo)
        state.save(host.paths)
        return Started(state, master, warnings)
    except BaseException:
        roll_back(undo)
        raise


def record_settings(host: Host, state: RunState, cfg: ContainerConfig, undo: list) -> None:
    """The settings the run starts with, beside its state (hutch.container.runrecord):
    written first, so that a container with a run state has its record."""
    from hutch.container import runrecord

    runrecord.save(host.paths, state, cfg)
    undo.append(lambda: host.paths.ct_settings(state.ctid).unlink(missing_ok=True))


def make_cgroup(host: Host, cfg: ContainerConfig, undo: list) -> tuple[Cgroup, list[str]]:
    """The container's cgroups, empty, with its limits, its device policy and (unprivileged)
    its inner group delegated to its root; their removal goes on `undo`. Returns them and
    the warnings of limits the kernel could not apply."""
    cg = host.cgroups.create(cfg.ctid)
    undo.append(lambda: cg.remove())
    if cg.pids():
        raise StateConflict(
            f"container {cfg.ctid} still has processes in its cgroup {cg.primary}",
            hint="stop it with 'hutch stop --kill'",
        )
    warnings = host.cgroups.apply(cg, limits_of(cfg))
    # (an image root's loop device is set up outside the cgroup, before the init exists)
    host.cgroups.restrict_devices(cg, devices.allowlist(cfg.security_devices))
    idmap = cfg.idmap
    if idmap is not None:
        # its root may manage the groups below its cgroup namespace root (systemd)
        cg.delegate(idmap.to_host(0), idmap.to_host(0))
    return cg, warnings


def make_console(cfg: ContainerConfig, undo: list) -> tuple[int, int]:
    """A pty for /dev/console: (master, kept by hutchd; slave, for the container). The
    slave belongs to the container's root and tty group: its init opens it as them."""
    master, slave = os.openpty()
    os.set_inheritable(master, False)
    undo.append(lambda: os.close(master))
    idmap = cfg.idmap
    if idmap is not None:
        os.fchown(slave, idmap.to_host(0), idmap.to_host(TTY_GID))
    return master, slave


def roll_back(undo: list) -> None:
    """Undo the steps of a failed start, last first (the failure is what gets reported)."""
    for fn in reversed(undo):
        try:
            fn()
        except OSError:
            pass


def outside_plan_of(cfg: ContainerConfig) -> tuple:
    """The container's /dev and what else is made outside it, for a start and a restore."""
    idmap = cfg.idmap
    try:
        return tuple(
            outside_plan(
                DEFAULT_DEVICES + devices.nodes(cfg.security_devices),
                0 if idmap is None else idmap.to_host(0),
                own_net=own_netns(cfg),
            )
        )
    except (OSError, ValueError) as e:  # a device the host does not have
        raise OperationFailed(f"cannot start {cfg.ctid}: {e}") from None


def _drop_nat(host: Host, ctid: str) -> None:
    """Rolling back a start: best effort, the error that caused the rollback is the one to
    report (a rule left behind is replaced at the next start)."""
    try:
        nat.remove(host.paths, ctid)
    except (HutchError, OSError):
        pass


def drop_filter(host: Host, ctid: str) -> None:
    """Rolling back a start: as _drop_nat (a table left behind is replaced at the next
    start)."""
    try:
        portfilter.remove(host.paths, ctid)
    except (HutchError, OSError):
        pass


def cleanup(
    host: Host,
    ctid: str,
    cgroup: Cgroup,
    net: NetRecord | None = None,
    netns: str | None = None,
) -> None:
    """After the init is gone: kill stragglers, give back host NICs and remove what the
    host side of the network holds (`netns`: the container's network namespace, kept
    alive by hutchd so NICs can be handed back), the cgroup and the state file."""
    if net is not None and net.holds_links:
        netsetup.stop(net, netns)
    for _ in range(100):
        pids = cgroup.pids()
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    cgroup.remove()
    RunState.remove(host.paths, ctid)
    # last: a failure here leaves no cgroup or state behind
    try:
        if net is not None and net.portfilter:
            portfilter.remove(host.paths, ctid)
    finally:
        if net is not None and net.nft:
            nat.remove(host.paths, ctid)
