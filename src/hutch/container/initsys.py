"""Which init a rootfs runs, and how that init wants to be asked to power off."""

from __future__ import annotations

import os
import signal

from hutch.linux import syscalls as sc
from hutch.linux.rootpath import open_in_root


def detect_init(rootfs: str, init_path: str = "/sbin/init") -> str:
    """'systemd', 'busybox', 'sysvinit' or 'unknown', from the init's symlink chain or name.

    Links are followed inside the rootfs only (a planted absolute link stays inside it).
    """
    try:
        rootfd = os.open(rootfs, sc.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return "unknown"
    try:
        path = init_path
        for _ in range(8):
            try:
                parent, _, name = path.rstrip("/").rpartition("/")
                pfd = open_in_root(rootfd, parent or "/", sc.O_PATH | os.O_DIRECTORY)
                try:
                    target = os.readlink(name, dir_fd=pfd)
                finally:
                    os.close(pfd)
            except OSError:
                break  # not a link (or missing): judge by the last name
            path = target if target.startswith("/") else f"{parent}/{target}"
        base = os.path.basename(path)
        if "systemd" in path:
            return "systemd"
        if base == "busybox":
            return "busybox"
        if base == "init":
            return "sysvinit"
        return "unknown"
    finally:
        os.close(rootfd)


def poweroff_signal(kind: str) -> int:
    """The signal each init treats as "power off cleanly" (SIGRTMIN+4 is systemd's poweroff)."""
    return {
        "systemd": signal.SIGRTMIN + 4,
        "busybox": signal.SIGUSR2,
    }.get(kind, signal.SIGPWR)
