"""Give a running container a new console (after hutchd restarted and the old master is gone).

A pty master cannot be reopened, so hutchd makes a new pty pair and mounts its slave over the
container's /dev/console. The mount comes from the host's mount namespace, so it is carried
in with open_tree(2) + move_mount(2). Processes that still hold the old console see a hangup;
whatever opens /dev/console afterwards (a respawned getty, init's messages) gets the new one.
"""

from __future__ import annotations

import os

from hutch.container.state import RunState
from hutch.linux import syscalls as sc


def replace_console(st: RunState) -> int:
    """Mount a fresh pty slave on the container's /dev/console; returns the master fd."""
    master, slave = os.openpty()
    os.set_inheritable(master, False)
    try:
        if st.idmap_base is not None:  # as at start: the container's root, tty group
            from hutch.container.mounts import TTY_GID

            os.fchown(slave, st.idmap_base, st.idmap_base + TTY_GID)
        tree = sc.open_tree(os.ttyname(slave))
        try:
            mntfd = os.open(f"/proc/{st.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            rootfd = os.open(f"/proc/{st.pid}/root", sc.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                pid = os.fork()
                if pid == 0:  # pragma: no cover - child
                    try:
                        sc.setns(mntfd, sc.CLONE_NEWNS, "mnt")
                        os.fchdir(rootfd)
                        os.chroot(".")
                        try:
                            sc.umount2("/dev/console", sc.MNT_DETACH)
                        except OSError:
                            pass
                        sc.move_mount(tree, "/dev/console")
                        os._exit(0)
                    except BaseException as e:
                        os.write(2, f"replace console: {e}\n".encode())
                        os._exit(1)
                _, status = os.waitpid(pid, 0)
            finally:
                os.close(mntfd)
                os.close(rootfd)
        finally:
            os.close(tree)
        if os.waitstatus_to_exitcode(status) != 0:
            raise OSError(f"cannot mount a new console in container {st.ctid}")
        return master
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
