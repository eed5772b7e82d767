"""The sender's jail: rsync reads a container's live files from a root that holds nothing of
the host's but its public programs (issue 12 item 4).

A live copy runs the host's root rsync over files the running container changes meanwhile:
it swaps a directory for a symlink to "/" between rsync's listing and its reading, and rsync
opens the host's /etc/shadow in its place. So the sender runs in a private mount namespace
whose root is a fresh tmpfs holding only

    /usr                      the host's, read-only (and /bin, /lib*, /sbin as it has them:
                              usrmerge links, or read-only binds)
    /etc/passwd, /etc/group   one line for root (ssh wants a name for its uid)
    /dev/null                 the host's node
    /ct                       the container's data, read-only: the only thing it copies
    the ControlMaster socket  at its own path: ssh in here is a mux client of the master
                              that hutch started outside, so no key is in reach

and every link the container plants resolves inside that root. The plan is data (`describe`)
and runs in the child between fork and exec (`enter`), which is single-threaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hutch.linux import syscalls as sc

INSIDE = "/ct"  # where the container's data appears in the jail
PUBLIC = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")  # next to /usr, as the host has them
PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
GROUP = "root:x:0:\n"
RO = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV


@dataclass(frozen=True)
class Jail:
    base: str  # an empty directory of hutch's own (the tmpfs goes there)
    data: str  # the container's data: a directory or a file (an image)
    socket: str  # the ControlMaster's socket

    def describe(self) -> list[str]:
        out = ["tmpfs as /", "bind /usr ro"]
        for name in PUBLIC:
            path = f"/{name}"
            if os.path.islink(path):
                out.append(f"link /{name} -> {os.readlink(path)}")
            elif os.path.isdir(path):
                out.append(f"bind /{name} ro")
        out += ["/etc/passwd, /etc/group: root", "bind /dev/null"]
        out += [f"bind {self.data} on {INSIDE} ro", f"bind {self.socket}"]
        return out

    def enter(self) -> None:  # pragma: no cover - runs in the forked child
        """Become the jail's only process: private mounts, the tmpfs as root, the host's
        root detached."""
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        root = self.base
        sc.mount("tmpfs", root, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "mode=755,size=1m")
        _bind_ro("/usr", f"{root}/usr", directory=True)
        for name in PUBLIC:
            path = f"/{name}"
            if os.path.islink(path):
                os.symlink(os.readlink(path), f"{root}/{name}")
            elif os.path.isdir(path):
                _bind_ro(path, f"{root}/{name}", directory=True)
        os.makedirs(f"{root}/etc", 0o755)
        for name, text in (("passwd", PASSWD), ("group", GROUP)):
            with open(f"{root}/etc/{name}", "w") as f:
                f.write(text)
        os.makedirs(f"{root}/root", 0o700)
        os.makedirs(f"{root}/tmp", 0o1777)
        os.makedirs(f"{root}/dev", 0o755)
        _bind(os.path.realpath("/dev/null"), f"{root}/dev/null", directory=False)
        _bind_ro(self.data, root + INSIDE, directory=os.path.isdir(self.data))
        sock = os.path.abspath(self.socket)
        os.makedirs(root + os.path.dirname(sock), 0o700, exist_ok=True)
        _bind(sock, root + sock, directory=False)
        os.chdir(root)
        sc.pivot_root(".", ".")  # the host's root is stacked beneath: detach it
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")


def _bind(src: str, dst: str, *, directory: bool) -> None:  # pragma: no cover
    if directory:
        os.makedirs(dst, 0o755, exist_ok=True)
    else:
        os.close(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    sc.mount(src, dst, None, sc.MS_BIND)


def _bind_ro(src: str, dst: str, *, directory: bool) -> None:  # pragma: no cover
    _bind(src, dst, directory=directory)
    sc.mount(None, dst, None, sc.MS_REMOUNT | sc.MS_BIND | RO)
