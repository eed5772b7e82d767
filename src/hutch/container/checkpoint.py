"""Checkpoint a running container to disk and restore it, with CRIU (`hutch checkpoint`,
`hutch restore`; the building block of `hutch migrate --online`).

Dump: CRIU freezes the container's cgroup, saves its process tree (memory, files, pipes,
sockets incl. established TCP connections, ttys, namespaces) and kills it, or leaves it
running (`--keep-running`). What CRIU cannot dump by itself is declared external (/dev and
/dev/console: `mnt[/dev]:dev`, the console's pty `tty[rdev:dev]`; the veth host ends). A
container whose processes made mount namespaces of their own is refused (see below).

Restore: the mounts are not CRIU's to remake. CRIU would make them inside the container's
user namespace, unlocked, so that the container's root could unmount a mask or remount
/proc/sys read-write afterwards (issue 12 item 3). hutch makes the container's mount
namespace itself, as a start does, with everything locked, and CRIU's tasks join it
(hutch.container.restore_mounts, hutch.criu.images). What else hutch remakes:

    /dev/console    a pty slave whose master hutchd holds: a fresh pty, bound on
                    /dev/console and handed to CRIU as the same tty (`--inherit-fd`)
    veth host ends  CRIU recreates each pair with the host end's name; hutch then gives it
                    its MAC, bridge, routes and proxy ARP again (hutch.network.setup.adopt)

The settings the container runs with (hutch.container.runrecord, live changes included) go
into hutch.json at dump; a restore runs it with them (its limits, addresses, host name) and
records them again, as a start records config.toml's.

hutchd creates the cgroups (limits, devices, delegation) first, then runs CRIU with
--restore-sibling so that the restored init becomes hutchd's own child. PIDs inside are
those of the dump. A different hutch root (migration) maps the cgroups with --cgroup-root.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from hutch.config import ContainerConfig
from hutch.container.host import Host
from hutch.container.state import RunState
from hutch.errors import KernelFeatureMissing, OperationFailed, StateConflict, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.network.spec import NetworkPlan
    from hutch.security.idmap import IdMap

META = "hutch.json"  # what hutch itself needs at restore, beside CRIU's images


def default_dir(host: Host, ctid: str) -> Path:
    return host.paths.ct_dir(ctid) / "checkpoint"


def _criu() -> str:
    from hutch.criu import binary

    path = binary.find()
    if path is None:
        raise KernelFeatureMissing(
            "criu is not installed: checkpoint and restore need it", hint="run setup.sh"
        )
    return path


def _refuse_unsupported_network(plan: NetworkPlan) -> None:
    """A link whose mode CRIU cannot carry (hutch.network.modes) refuses the checkpoint."""
    from hutch.network.setup import refusals

    why = refusals(plan)
    if why:
        raise StateConflict(why[0])


def _refuse_own_mount_namespaces(ctid: str, st: RunState) -> None:
    """A restore remakes one mount namespace, the container's, with its mounts locked
    (hutch.container.restore_mounts): a process inside with a mount namespace of its own
    (unshare -m, a systemd unit's PrivateTmp) cannot come back, so no checkpoint is taken."""

    def ns(pid: int) -> str | None:
        try:
            return os.readlink(f"/proc/{pid}/ns/mnt")
        except OSError:
            return None  # gone meanwhile

    mine = ns(st.pid)
    for pid in st.cgroups.pids():
        theirs = ns(pid)
        if theirs is not None and mine is not None and theirs != mine:
            raise StateConflict(
                f"container {ctid}: process {pid} inside has a mount namespace of its own, "
                "which a restore cannot remake",
                hint="stop that service (or its PrivateTmp= and the like), then checkpoint",
            )


def _prepare_dir(images: Path) -> None:
    """A fresh directory for the images: an old checkpoint's files go, anything else is
    refused (a typo in --dir must not empty someone's directory)."""
    if images.exists():
        names = os.listdir(images)
        if names and not (images / META).is_file() and not any(n.endswith(".img") for n in names):
            raise UsageError(f"{images} is not empty and holds no checkpoint; give another --dir")
        shutil.rmtree(images)
    images.mkdir(parents=True, mode=0o700)


def _network_lock() -> str:
    """CRIU's nftables network lock needs no iptables; older hosts fall back."""
    return "nftables" if shutil.which("nft") else "iptables"


def dump(
    host: Host, cfg: ContainerConfig, st: RunState, images: Path, keep_running: bool = False
) -> dict:
    """Checkpoint the running container `st` into `images`. Raises OperationFailed with
    CRIU's reason; then the container keeps running (CRIU thaws it)."""
    from hutch.container.netplan import network_plan
    from hutch.container.runrecord import settings_json
    from hutch.criu import run as criu_run

    plan = network_plan(cfg, str(host.paths.root))
    _refuse_unsupported_network(plan)
    _refuse_own_mount_namespaces(cfg.ctid, st)
    _prepare_dir(images)
    args = ["-t", str(st.pid), *_common_args()]
    args += ["--manage-cgroups=full", "--freeze-cgroup", str(_freezer(st))]
    args += ["--external", "mnt[/dev]:dev"]
    tty = None
    if st.console:
        from hutch.linux.rootpath import opened_root, stat_in_root

        # resolved inside the container's root: its /dev/console may be any link it likes
        with opened_root(f"/proc/{st.pid}/root") as rootfd:
            s = stat_in_root(rootfd, "dev/console")
        tty = f"{s.st_rdev:x}:{s.st_dev:x}"
        args += ["--external", "mnt[/dev/console]:console", "--external", f"tty[{tty}]"]
    if keep_running:
        args.append("--leave-running")
    meta = {
        "ctid": cfg.ctid,
        "tty": tty,
        "idmap_base": st.idmap_base,
        "cgroup_root": _inner_path(host, st),
        "hostname": st.hostname,
        "init": st.init,
        "stop_signal": st.stop_signal,
        "started_at": st.started_at,
        "dumped_at": time.time(),
        # what it runs with (live changes included): a restore keeps running with it
        "settings": settings_json(cfg),
    }
    t0 = time.perf_counter()
    criu_run.run("dump", images, args, criu=_criu())
    elapsed = time.perf_counter() - t0
    (images / META).write_text(json.dumps(meta))
    return {"dir": str(images), "dump_ms": round(elapsed * 1000, 1), "kept_running": keep_running}


def _common_args() -> list[str]:
    return [
        "--tcp-established",
        "--file-locks",
        "--link-remap",
        "--network-lock",
        _network_lock(),
        "--external",
        "mnt[]",
    ]


def _freezer(st: RunState) -> Path:
    """The group CRIU freezes: the container's top group (v1 freezer, or v2's unified one)."""
    cg = st.cgroups
    top = cg.dir("freezer") or cg.dir("unified")
    if top is None:
        raise KernelFeatureMissing("no freezer cgroup: checkpoint needs one")
    return top


def _inner_path(host: Host, st: RunState) -> str:
    """The init's cgroup below a hierarchy's root (the same in every hierarchy here)."""
    from hutch.cgroups.base import INNER

    return f"/{host.paths.cgroup_name}/{st.ctid}/{INNER}"


def _open_images_to(images: Path, idmap: IdMap | None) -> None:
    """CRIU's restored processes read their images themselves, already in the container's
    user namespace: the directory lets in its root's group, and nobody else (the images
    hold the container's memory)."""
    os.chown(images, 0, 0 if idmap is None else idmap.to_host(0))
    os.chmod(images, 0o710)


def read_meta(images: Path) -> dict:
    try:
        return json.loads((images / META).read_text())
    except FileNotFoundError:
        raise StateConflict(
            f"{images} holds no checkpoint", hint="make one with 'hutch checkpoint'"
        ) from None
    except ValueError:
        raise StateConflict(f"{images / META} is damaged") from None


def dumped_settings(saved: ContainerConfig, meta: dict, images: Path) -> ContainerConfig:
    """The settings the container ran with when dumped (`saved`, config.toml, for a
    checkpoint of a hutch that did not keep them). The keys chosen at create come from
    `saved`: they are checked against the dump on their own."""
    from hutch.config.schema import FIXED_AT_CREATE
    from hutch.container.runrecord import checked_settings

    dumped = meta.get("settings")
    if dumped is None:
        return saved
    if not isinstance(dumped, dict):
        raise StateConflict(f"{images / META} is damaged (settings)")
    try:
        values = checked_settings(dumped, str(images / META))
    except ValueError as e:
        raise StateConflict(f"cannot restore this checkpoint: {e}") from None
    return saved.with_changes({n: v for n, v in values.items() if n not in FIXED_AT_CREATE})


def restore(host: Host, saved: ContainerConfig, images: Path):  # type: ignore[no-untyped-def]
    """Restore the container from `images`; returns a runtime.Started, as a start does.
    It runs with the settings it was dumped with (a live limit or address stays), recorded
    as a start records them; `saved` is its config.toml. All or nothing: a failed restore
    leaves no process, cgroup or state behind."""
    from hutch.container.confinement import record_of
    from hutch.container.netplan import addresses, nat_rules, network_plan
    from hutch.container.runtime import (
        Started,
        drop_filter,
        make_cgroup,
        make_console,
        record_settings,
        roll_back,
    )
    from hutch.container.state import proc_starttime
    from hutch.network import nat, portfilter
    from hutch.network import setup as netsetup
    from hutch.network.spec import NetRecord
    from hutch.security.idmap import mode as idmap_mode

    ctid = saved.ctid
    meta = read_meta(images)
    if meta.get("ctid") != ctid:
        raise StateConflict(f"{images} holds a checkpoint of container {meta.get('ctid')}")
    cfg = dumped_settings(saved, meta, images)
    idmap = cfg.idmap
    # a privileged container's is the identity map (base 0); None: dumped by a hutch that
    # ran privileged containers without a user namespace, restored as it was
    accepted = (cfg.userns.base,) if idmap is not None else (0, None)
    if meta.get("idmap_base") not in accepted:
        raise StateConflict(
            f"container {ctid}: its user namespace differs from the checkpoint's "
            f"(host IDs {meta.get('idmap_base')}, now {cfg.userns.base})"
        )
    plan = network_plan(cfg, str(host.paths.root))
    _refuse_unsupported_network(plan)
    from hutch.criu import images as criu_images

    try:
        criu_images.inherit_mount_namespace(images)
    except (OSError, criu_images.ImageError) as e:
        raise StateConflict(f"{images}: cannot restore this checkpoint: {e}") from None
    _open_images_to(images, idmap)
    host.ensure_dirs()
    undo: list = []
    try:
        cg, warnings = make_cgroup(host, cfg, undo)
        master = slave = None
        if meta.get("tty"):
            master, slave = make_console(cfg, undo)
        try:
            pid, _ = _run_restore(host, cfg, images, meta, plan, slave)
        finally:
            if slave is not None:
                os.close(slave)
        from hutch.container.spawn import kill_and_reap

        undo.append(lambda: kill_and_reap(pid))
        net_record = NetRecord()
        if plan.has_network:
            adopted = net_record = netsetup.adopt(plan, pid)
            undo.append(lambda: netsetup.stop(adopted, None))
            net_record = portfilter.apply(
                host.paths, ctid, plan, cfg.network_allow_spoof, net_record
            )
            undo.append(lambda: drop_filter(host, ctid))
        wanted_nat = nat_rules(cfg, plan)
        if wanted_nat:
            net_record = nat.apply(host.paths, ctid, wanted_nat, net_record)
        starttime = proc_starttime(pid)
        if starttime is None:
            raise OperationFailed(f"container {ctid}: its init exited right after the restore")
        state = RunState(
            ctid=ctid,
            pid=pid,
            starttime=starttime,
            started_at=float(meta.get("started_at") or time.time()),
            cgroup=cg.to_json(),
            console=master is not None,
            init=str(meta.get("init") or cfg.init[0]),
            stop_signal=int(meta.get("stop_signal") or 0),
            net=net_record,
            hostname=str(meta.get("hostname") or cfg.effective_hostname),
            ips=addresses(cfg),
            security=record_of(cfg),
            idmap_base=meta.get("idmap_base"),  # as dumped (checked above)
            idmap=idmap_mode(cfg.idmap, cfg.security_idmap),
        )
        record_settings(host, state, cfg, undo)
        state.save(host.paths)
        return Started(state, master, warnings)
    except BaseException:
        roll_back(undo)
        raise


def _mount_spec(  # type: ignore[no-untyped-def]
    host: Host, cfg: ContainerConfig, meta: dict, slave: int | None
):
    """The mounts of the restored container: those of a start (hutch.container.runtime)."""
    from hutch.container.mounts import cgroup_plan, console_plan, container_plan, lxcfs_proc_files
    from hutch.container.netplan import own_netns
    from hutch.container.restore_mounts import MountSpec
    from hutch.container.rootfs import root_mount
    from hutch.container.runtime import outside_plan_of

    idmap = cfg.idmap
    return MountSpec(
        rootfs=str(host.paths.ct_rootfs(cfg.ctid)),
        outside_plan=outside_plan_of(cfg),
        plan=tuple(
            container_plan(
                lxcfs_proc_files(),
                own_net=own_netns(cfg),
                owner=0 if idmap is None else idmap.to_host(0),
            )
        ),
        console_plan=tuple(console_plan(os.ttyname(slave) if slave is not None else None)),
        cgroup_plan=tuple(cgroup_plan(host.cgroups.container_mounts())),
        # every container has one (a privileged one maps IDs to themselves), but one
        # dumped by a hutch that ran privileged containers without: as it was dumped
        userns=meta.get("idmap_base") is not None,
        root_mount=root_mount(host.paths, cfg),
    )


def _run_restore(
    host: Host,
    cfg: ContainerConfig,
    images: Path,
    meta: dict,
    plan: NetworkPlan,
    slave: int | None,
) -> tuple[int, float]:
    """criu restore into the mount namespace of a mount maker (hutch.container.restore_mounts);
    returns the restored init's pid."""
    from hutch.container import restore_mounts
    from hutch.criu import run as criu_run

    criu = _criu()
    pidfile = images / "restore.pid"
    pidfile.unlink(missing_ok=True)
    log = images / "restore.log"
    errors = images / restore_mounts.ERRORS
    errors.unlink(missing_ok=True)
    ctl = images / ".restore-ctl"  # the maker's FIFOs and criu's action script: root's only
    shutil.rmtree(ctl, ignore_errors=True)
    hook = restore_mounts.prepare_ctl(ctl)
    spec = _mount_spec(host, cfg, meta, slave)
    args = [criu, "restore", "-D", str(images), "-o", log.name, "-v" + criu_run.LOG_LEVEL]
    args += [*_common_args(), "--manage-cgroups=soft"]
    args += ["--cgroup-root", f"/{host.paths.cgroup_name}/{cfg.ctid}/ct"]
    if slave is not None:
        args += ["--inherit-fd", f"fd[{slave}]:tty[{meta['tty']}]"]
    from hutch.network.setup import host_ends

    for inside, host_end in host_ends(plan):
        args += ["--external", f"veth[{inside}]:{host_end}"]
    args += ["--restore-detached", "--restore-sibling", "--pidfile", str(pidfile)]
    args += ["--action-script", str(hook)]
    userns = None
    if spec.root_mount is not None and cfg.idmap is not None:
        from hutch.container.spawn import make_userns

        userns = make_userns(cfg.idmap)  # only to map an overlay's template, as at start
    try:
        maker = restore_mounts.Maker(spec, ctl, errors, userns)
    finally:
        if userns is not None:
            os.close(userns)
    args += ["--join-ns", f"mnt:{maker.pid}"]
    try:
        return _run_criu(host, plan, images, args, slave, log, errors, maker)
    finally:
        maker.stop()
        shutil.rmtree(ctl, ignore_errors=True)


def _run_criu(
    host: Host,
    plan: NetworkPlan,
    images: Path,
    args: list[str],
    slave: int | None,
    log: Path,
    errors: Path,
    maker,  # type: ignore[no-untyped-def]
) -> tuple[int, float]:
    from hutch.criu import run as criu_run

    pidfile = images / "restore.pid"
    # CRIU remakes each veth pair in its own network namespace, at the interface index the
    # container's end had, and moves that end in: in the host's namespace that index may be
    # taken. So criu runs in a scratch network namespace of its own, which hutchd holds,
    # and the host ends move from there to the host's namespace afterwards (reclaim).
    from hutch.network.setup import host_ends as ends_of

    host_ends = [host_end for _, host_end in ends_of(plan)]
    sync = os.pipe2(os.O_CLOEXEC) if host_ends else None
    go = os.pipe2(os.O_CLOEXEC) if host_ends else None
    scratch = -1
    t0 = time.perf_counter()
    try:
        child = os.fork()
        if child == 0:  # pragma: no cover - becomes criu
            _child(slave, args, images, (sync[1], go[0]) if sync and go else None)
        if sync and go:
            os.close(sync[1])
            os.close(go[0])
            if os.read(sync[0], 1) == b"1":  # else it failed and says so in restore.log
                scratch = os.open(f"/proc/{child}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            os.write(go[1], b"1")
    finally:
        for fd in (sync[0] if sync else -1, go[1] if go else -1):
            if fd >= 0:
                os.close(fd)
    try:
        status = maker.wait_criu(child)
        elapsed = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            text = ""
            for path in (log, images / "restore.out", errors):  # the maker's last
                try:
                    text += path.read_text(errors="replace") + "\n"
                except OSError:
                    pass
            raise OperationFailed(criu_run.error_line("restore", text, log))
        try:
            pid = int(pidfile.read_text())
        except (OSError, ValueError):
            raise OperationFailed(f"criu restore wrote no pid (log: {log})") from None
        if scratch >= 0:
            from hutch.network import setup as netsetup

            netsetup.reclaim(host_ends, scratch)
        return pid, elapsed
    finally:
        if scratch >= 0:
            os.close(scratch)


def _child(  # pragma: no cover - runs in the forked child, then execs criu
    slave: int | None,
    args: list[str],
    images: Path,
    sync: tuple[int, int] | None,
) -> None:
    try:
        from hutch.linux import syscalls as sc

        # criu's own mounts (its cgroup yard) stay out of the host's namespace
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
        os.chdir(str(images))
        # what criu says before its log is open goes to restore.out
        out = os.open("restore.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        os.dup2(out, 2)
        if slave is not None:
            os.set_inheritable(slave, True)  # --inherit-fd: criu gets it by number
        if sync is not None:  # the scratch network namespace (see _run_criu)
            sc.unshare(sc.CLONE_NEWNET)
            from hutch.network.loopback import loopback_up

            loopback_up()  # criu's own feature probes talk TCP over it
            os.write(sync[0], b"1")
            os.read(sync[1], 1)
        os.execv(args[0], args)
    except BaseException as e:
        try:
            (images / "restore.log").write_text(f"Error (hutch): preparing the restore: {e}\n")
        finally:
            os._exit(127)
