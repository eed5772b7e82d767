"""hutchd entry point: `python -m hutch.daemon [--root DIR]` (the CLI starts it on demand)."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import signal
import sys

from hutch.container.host import Host
from hutch.daemon.autostart import autostart, first_start_this_boot
from hutch.daemon.server import Server
from hutch.daemon.supervisor import Supervisor
from hutch.linux import syscalls as sc
from hutch.paths import Paths

log = logging.getLogger("hutchd")


async def serve(host: Host) -> None:
    loop = asyncio.get_running_loop()
    sup = Supervisor(host)
    sup.adopt_all()
    boot = first_start_this_boot(host.paths.run)
    sock_path = host.paths.socket
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    old = os.umask(0o177)  # the socket is born 0600: root only, no window
    try:
        server = await asyncio.start_unix_server(
            Server(sup).handle, path=str(sock_path), limit=64 * 1024
        )
    finally:
        os.umask(old)
    os.chmod(sock_path, 0o600)
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    log.info(
        "hutchd %d listening on %s (%d containers adopted)",
        os.getpid(),
        sock_path,
        len(sup.running),
    )
    background = set()  # the loop keeps only weak references to tasks
    if boot:
        background.add(loop.create_task(autostart(sup)))
    await done.wait()
    log.info("hutchd exiting; containers keep running")
    server.close()
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    await sup.stop_all_on_exit()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="hutchd", description="hutch's host supervisor")
    ap.add_argument("--root", help="hutch root directory (default: / or $HUTCH_ROOT)")
    args = ap.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s hutchd[%(process)d] %(levelname)s %(message)s",
    )
    if os.geteuid() != 0:
        log.error("hutchd must run as root")
        return 1
    host = Host(paths=Paths.from_env(args.root))
    host.ensure_dirs()
    lockfd = os.open(host.paths.run / "hutchd.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("another hutchd already runs for %s", host.paths.root)
        return 0
    host.paths.daemon_pidfile.write_text(f"{os.getpid()}\n")
    sc.set_child_subreaper()
    sc.set_process_name("hutchd")
    try:
        asyncio.run(serve(host))
    finally:
        try:
            os.unlink(host.paths.daemon_pidfile)
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
