"""Checkpoint a running container to disk and restore it, with CRIU (`hutch checkpoint`,
`hutch restore`; the building block of `hutch migrate --online`).

Dump: CRIU freezes the container's cgroup, saves its process tree (memory, files, pipes,
sockets incl. established TCP connections, ttys, namespaces) and kills it, or leaves it
running (`--keep-running`). What CRIU cannot recreate by itself is declared external and
remade by hutch at restore:

    /dev            a tmpfs of device nodes, which a user namespace may not make: hutch
                    prepares one as at start and CRIU binds it in (`mnt[/dev]:dev`)
    /dev/console    a pty slave whose master hutchd holds: a fresh pty, handed to CRIU as
                    the same tty (`tty[rdev:dev]`, `--inherit-fd`)
    host binds      /dev/null over masked files, lxcfs files: bound again from the host
    veth host ends  CRIU recreates each pair with the host end's name; hutch then gives it
                    its MAC, bridge, routes and proxy ARP again (hutch.network.setup.adopt)

Restore: hutchd creates the cgroups (limits, devices, delegation) first, then runs CRIU in
a private mount namespace (the rootfs mounted there for overlay and image backends, the
/dev prepared on a scratch tmpfs), with --restore-sibling so that the restored init becomes
hutchd's own child. PIDs inside are those of the dump. A different hutch root (migration)
maps the cgroups with --cgroup-root.

Known limit: CRIU recreates the mounts inside the container's user namespace, so after a
restore hutch's masks and read-only mounts are no longer locked against the container's
root (its user namespace still refuses every host-level write behind them).
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
    from hutch.security.idmap import IdMap

META = "hutch.json"  # what hutch itself needs at restore, beside CRIU's images
PREPARED = "/mnt"  # the scratch tmpfs of the restore's private mount namespace (see _child)


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


def _refuse_unsupported_network(plan: dict) -> None:
    for n in plan["netifs"]:
        if n["type"] != "veth":
            raise StateConflict(
                f"container {plan['ctid']}: a {n['type']} interface ({n['ifname']}) cannot be "
                "checkpointed; veth, venet and containers without a network can"
            )
    if plan["netdevs"]:
        raise StateConflict(
            f"container {plan['ctid']}: a host NIC lent with --netdev_add cannot be checkpointed"
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
    from hutch.criu import run as criu_run
    from hutch.network.plan import network_plan

    plan = network_plan(cfg, str(host.paths.root))
    _refuse_unsupported_network(plan)
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


def restore(host: Host, cfg: ContainerConfig, images: Path):  # type: ignore[no-untyped-def]
    """Restore the container from `images`; returns a runtime.Started, as a start does.
    All or nothing: a failed restore leaves no process, cgroup or state behind."""
    from hutch.container.runtime import (
        Started,
        drop_filter,
        make_cgroup,
        make_console,
        roll_back,
    )
    from hutch.container.state import proc_starttime
    from hutch.linux.worker import run_in_worker
    from hutch.network import nat, portfilter
    from hutch.network import setup as netsetup
    from hutch.network.plan import addresses, has_network, network_plan
    from hutch.security import confine
    from hutch.security.idmap import mode as idmap_mode

    ctid = cfg.ctid
    meta = read_meta(images)
    if meta.get("ctid") != ctid:
        raise StateConflict(f"{images} holds a checkpoint of container {meta.get('ctid')}")
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
        net_record: dict = {}
        if has_network(plan):
            import pyroute2.iproute  # noqa: F401 - once here, not in every worker

            net_record = run_in_worker(netsetup.adopt, plan, pid)
            undo.append(lambda: run_in_worker(netsetup.stop, net_record, None))
            portfilter.apply(host.paths, ctid, plan, cfg.network_allow_spoof, net_record)
            undo.append(lambda: drop_filter(host, ctid))
        if nat.rules_for(cfg):
            nat.apply(host.paths, cfg, net_record)
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
            security=confine.record(cfg),
            idmap_base=meta.get("idmap_base"),  # as dumped (checked above)
            idmap=idmap_mode(cfg),
        )
        state.save(host.paths)
        return Started(state, master, warnings)
    except BaseException:
        roll_back(undo)
        raise


def _run_restore(
    host: Host,
    cfg: ContainerConfig,
    images: Path,
    meta: dict,
    plan: dict,
    slave: int | None,
) -> tuple[int, float]:
    """criu restore in a private mount namespace; returns the restored init's pid."""
    from hutch.criu import run as criu_run
    from hutch.storage import backends

    criu = _criu()
    rootfs = str(host.paths.ct_rootfs(cfg.ctid))
    pidfile = images / "restore.pid"
    pidfile.unlink(missing_ok=True)
    log = images / "restore.log"
    args = [criu, "restore", "-D", str(images), "-o", log.name, "-v" + criu_run.LOG_LEVEL]
    args += ["--root", rootfs, *_common_args(), "--manage-cgroups=soft"]
    args += ["--cgroup-root", f"/{host.paths.cgroup_name}/{cfg.ctid}/ct"]
    args += ["--external", f"mnt[dev]:{PREPARED}/dev"]
    if slave is not None:
        args += ["--external", f"mnt[console]:{os.ttyname(slave)}"]
        args += ["--inherit-fd", f"fd[{slave}]:tty[{meta['tty']}]"]
    for n in plan["netifs"]:
        args += ["--external", f"veth[{n['ifname']}]:{n['host_ifname']}"]
    if plan["venet"]:
        args += ["--external", f"veth[venet0]:{plan['venet']['host']}"]
    args += ["--restore-detached", "--restore-sibling", "--pidfile", str(pidfile)]
    root_mount = backends.root_mount(host.paths, cfg)
    userns = None
    if root_mount is not None and cfg.idmap is not None:
        from hutch.container.spawn import make_userns

        userns = make_userns(cfg.idmap)  # only to map an overlay's template, as at start
    # CRIU remakes each veth pair in its own network namespace, at the interface index the
    # container's end had, and moves that end in: in the host's namespace that index may be
    # taken. So criu runs in a scratch network namespace of its own, which hutchd holds,
    # and the host ends move from there to the host's namespace afterwards (reclaim).
    host_ends = [n["host_ifname"] for n in plan["netifs"]]
    if plan["venet"]:
        host_ends.append(plan["venet"]["host"])
    sync = os.pipe2(os.O_CLOEXEC) if host_ends else None
    go = os.pipe2(os.O_CLOEXEC) if host_ends else None
    scratch = -1
    t0 = time.perf_counter()
    try:
        child = os.fork()
        if child == 0:  # pragma: no cover - becomes criu
            _child(
                host, cfg, root_mount, userns, rootfs, slave, args, images,
                (sync[1], go[0]) if sync and go else None,
            )  # fmt: skip
        if sync and go:
            os.close(sync[1])
            os.close(go[0])
            if os.read(sync[0], 1) == b"1":  # else it failed and says so in restore.log
                scratch = os.open(f"/proc/{child}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            os.write(go[1], b"1")
    finally:
        if userns is not None:
            os.close(userns)
        for fd in (sync[0] if sync else -1, go[1] if go else -1):
            if fd >= 0:
                os.close(fd)
    try:
        _, status = os.waitpid(child, 0)
        elapsed = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            text = ""
            for path in (log, images / "restore.out"):
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
            from hutch.linux.worker import run_in_worker
            from hutch.network import setup as netsetup

            run_in_worker(netsetup.reclaim, host_ends, scratch)
        return pid, elapsed
    finally:
        if scratch >= 0:
            os.close(scratch)


def _child(  # pragma: no cover - runs in the forked child, then execs criu
    host: Host,
    cfg: ContainerConfig,
    root_mount,  # type: ignore[no-untyped-def]
    userns: int | None,
    rootfs: str,
    slave: int | None,
    args: list[str],
    images: Path,
    sync: tuple[int, int] | None,
) -> None:
    try:
        from hutch.container.mounts import (
            DEFAULT_DEVICES,
            Mount,
            Symlink,
            console_plan,
            container_plan,
            execute_plan,
            outside_plan,
        )
        from hutch.linux import syscalls as sc
        from hutch.linux.rootpath import create_file_in_root, mkdirs_in_root, symlink_in_root
        from hutch.security import devices

        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
        if root_mount is not None:
            root_mount.execute(rootfs, userns)
        # a scratch tmpfs any user may cross (the restored init, already in its user
        # namespace, opens the prepared /dev through it); hidden from the host: private ns
        sc.mount("tmpfs", PREPARED, "tmpfs", sc.MS_NOSUID | sc.MS_NOEXEC, "mode=711,size=64k")
        idmap = cfg.idmap
        owner = 0 if idmap is None else idmap.to_host(0)
        rootfd = os.open(PREPARED, sc.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        nodes = DEFAULT_DEVICES + devices.nodes(cfg.security_devices)
        execute_plan(outside_plan(nodes, owner), rootfd)
        # the mount points and links of /dev that CRIU mounts on or expects
        for op in [*container_plan(owner=owner), *console_plan("console" if slave else None)]:
            if isinstance(op, Symlink) and op.path.startswith("dev/"):
                symlink_in_root(rootfd, op.target, op.path)
            elif isinstance(op, Mount) and op.target.startswith("dev/"):
                make = create_file_in_root if op.file else mkdirs_in_root
                os.close(make(rootfd, op.target))
        os.close(rootfd)
        os.chdir(str(images))
        # what criu says before its log is open goes to restore.out
        out = os.open("restore.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        os.dup2(out, 2)
        if slave is not None:
            os.set_inheritable(slave, True)  # --inherit-fd: criu gets it by number
        if sync is not None:  # the scratch network namespace (see _run_restore)
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
