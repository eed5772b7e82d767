"""The built-in `busybox` template: a tiny but complete system made from the host's busybox.

It needs no network and no package manager, so it is the template tests, benchmarks and
first-time users start from. The host's busybox must be statically linked (Debian's
`busybox-static`), because the container has no C library to load a dynamic one with.

The tree is a plan of data (directories, files, links) written into a temporary sibling of
the destination, then renamed into place: a failure leaves neither a half-made tree nor
the temporary directory behind.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path, PurePosixPath

from hutch.errors import AlreadyExists, NotFound, OperationFailed

__all__ = ["DEFAULT_BUSYBOX", "build_busybox_rootfs", "busybox_version", "is_static_elf"]

DEFAULT_BUSYBOX = Path("/bin/busybox")

_INSTALL_HINT = "apt-get install busybox-static"
_BUSYBOX_IN_ROOT = PurePosixPath("bin/busybox")
_PT_INTERP = 3  # program header type naming the dynamic loader (elf.h)

# (path, mode). Modes are set explicitly: mkdir's mode is filtered by the umask.
_DIRS: tuple[tuple[str, int], ...] = (
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("etc", 0o755),
    ("etc/init.d", 0o755),
    ("dev", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("tmp", 0o1777),
    ("root", 0o700),
    ("var", 0o755),
    ("var/log", 0o755),
    ("var/tmp", 0o1777),
    ("run", 0o755),
    ("home", 0o755),
    ("mnt", 0o755),
)

_INITTAB = """\
# /etc/inittab for busybox init (hutch "busybox" template).
# Format: id:runlevels:action:process. busybox ignores runlevels; an empty id means
# /dev/console, which hutch connects to the container's console.

# Boot: runs once, before anything else.
::sysinit:/etc/init.d/rcS

# A login shell on the console, started when someone presses Enter there.
::askfirst:-/bin/sh

# A service init keeps alive, as on a real system.
::respawn:/sbin/syslogd -n -O /var/log/messages

::ctrlaltdel:/sbin/reboot

# Shutdown: stop services, flush, unmount. Deliberately no "umount -r": remounting a
# busy mount read-only changes its whole filesystem, and a privileged container's root
# is a bind mount of a host filesystem, so "-r" would make the host's disk read-only.
::shutdown:/etc/init.d/rcK
::shutdown:/bin/sync
::shutdown:/bin/umount -a

# SIGQUIT makes init re-exec itself, e.g. after /bin/busybox was replaced.
::restart:/sbin/init
"""

_RCS = """\
#!/bin/sh
# Boot script of the hutch busybox template, run once by init (::sysinit).
# hutch mounts /proc, /sys, /dev, /dev/pts and /dev/shm before init starts,
# so nothing is mounted here.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# /run starts empty; /var/run is the old name many programs still use.
mkdir -p /run /var/log /tmp
[ -e /var/run ] || ln -sfn ../run /var/run

if [ -s /etc/hostname ]; then
    hostname -F /etc/hostname
fi
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

# Local services: /etc/init.d/S<NN><name>, started in name order.
for script in /etc/init.d/S*; do
    [ -x "$script" ] && "$script" start
done
exit 0
"""

_RCK = """\
#!/bin/sh
# Shutdown script of the hutch busybox template, run by init (::shutdown).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# Stop local services in the reverse of their start order.
stop_order=
for script in /etc/init.d/S*; do
    [ -x "$script" ] && stop_order="$script $stop_order"
done
for script in $stop_order; do
    "$script" stop
done

# syslogd last, so the services' last words are logged. init does not respawn
# anything once shutdown has begun.
killall -q syslogd
exit 0
"""

_PASSWD = """\
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""

_GROUP = """\
root:x:0:
nogroup:x:65534:
"""

# "*" never matches a password: root gets in through the console or `hutch enter`, which
# need no password, and nobody can log in over a network service by guessing one.
_SHADOW = """\
root:*::0:99999:7:::
nobody:*::0:99999:7:::
"""

_HOSTS = """\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
"""

_PROFILE = """\
# /etc/profile: read by login shells; the console shell is one ("-/bin/sh" in inittab).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# \\$ shows "#" for root and "$" for everyone else.
export PS1='\\u@\\h:\\w\\$ '
"""


def _os_release(version: str) -> str:
    return (
        'NAME="BusyBox"\n'
        "ID=busybox\n"
        f"VERSION_ID={version}\n"
        f'PRETTY_NAME="BusyBox {version}"\n'
        'HOME_URL="https://busybox.net/"\n'
    )


def _files(version: str) -> tuple[tuple[str, int, str], ...]:
    """(path, mode, content) of every regular file the template writes besides busybox."""
    return (
        ("etc/inittab", 0o644, _INITTAB),
        ("etc/init.d/rcS", 0o755, _RCS),
        ("etc/init.d/rcK", 0o755, _RCK),
        ("etc/passwd", 0o644, _PASSWD),
        ("etc/group", 0o644, _GROUP),
        ("etc/shadow", 0o640, _SHADOW),
        ("etc/hostname", 0o644, "busybox\n"),
        ("etc/hosts", 0o644, _HOSTS),
        ("etc/profile", 0o644, _PROFILE),
        ("etc/os-release", 0o644, _os_release(version)),
        ("etc/fstab", 0o644, ""),
    )


def is_static_elf(path: Path) -> bool:
    """True if `path` is an ELF file without a program interpreter (PT_INTERP).

    A binary with no interpreter is started by the kernel alone, so it runs in a root
    filesystem that has no dynamic loader or C library. Static-PIE binaries count as static.
    """
    try:
        with path.open("rb") as f:
            ident = f.read(16)
            if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2):
                raise OperationFailed(f"{path} is not an ELF executable")
            order = "<" if ident[5] == 1 else ">"
            if ident[4] == 2:  # ELFCLASS64
                fields = struct.unpack(order + "HHIQQQIHHH", f.read(42))
            else:  # ELFCLASS32
                fields = struct.unpack(order + "HHIIIIIHHH", f.read(30))
            phoff, phentsize, phnum = fields[4], fields[8], fields[9]
            for i in range(phnum):
                f.seek(phoff + i * phentsize)
                (p_type,) = struct.unpack(order + "I", f.read(4))
                if p_type == _PT_INTERP:
                    return False
            return True
    except (OSError, struct.error) as e:
        raise OperationFailed(f"cannot read ELF header of {path}: {e}") from e


def busybox_version(busybox: Path = DEFAULT_BUSYBOX) -> str:
    """The version of `busybox`, e.g. "1.35.0", from the banner it prints without arguments."""
    banner = _run(busybox)
    match = re.search(r"BusyBox v(\d[^\s]*)", banner)
    if not match:
        raise OperationFailed(f"{busybox} printed no BusyBox version banner")
    return match.group(1)


def build_busybox_rootfs(dest: Path, busybox: Path = DEFAULT_BUSYBOX) -> None:
    """Create the `busybox` template root filesystem at `dest`.

    `dest` must not exist or be an empty directory; its parents are created. On any
    failure nothing is left at `dest` and no temporary directory remains.
    """
    _check_dest(dest)
    _check_busybox(busybox)
    version = busybox_version(busybox)
    applets = _applets(busybox)

    dest.parent.mkdir(parents=True, exist_ok=True)
    # A sibling, so the final rename stays on one filesystem and is atomic. mkdtemp makes
    # it 0700, which keeps /etc/shadow private while its mode is still being set.
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        _populate(tmp, busybox, version, applets)
        os.chmod(tmp, 0o755)
        # rename(2) replaces an empty directory, so an empty `dest` needs no removal first.
        os.rename(tmp, dest)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OperationFailed(f"cannot build busybox rootfs {dest}: {e}") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_dest(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise AlreadyExists(f"{dest} exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        raise AlreadyExists(f"{dest} exists and is not empty")


def _check_busybox(busybox: Path) -> None:
    if not busybox.is_file():
        raise NotFound(f"busybox-static is not installed ({busybox} not found)", _INSTALL_HINT)
    if not is_static_elf(busybox):
        raise OperationFailed(
            f"{busybox} is dynamically linked; the busybox template needs a static busybox",
            _INSTALL_HINT,
        )


def _run(busybox: Path, *args: str) -> str:
    try:
        proc = subprocess.run(
            [str(busybox), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OperationFailed(f"cannot run {busybox}: {e}") from e
    return proc.stdout + proc.stderr


def _applets(busybox: Path) -> list[PurePosixPath]:
    """Install paths of every applet, relative to the root (e.g. usr/bin/env)."""
    paths = []
    for line in _run(busybox, "--list-full").splitlines():
        path = PurePosixPath(line.strip().lstrip("/"))
        # ".." would escape the tree; bin/busybox itself is the real binary, not a link.
        if line.strip() and ".." not in path.parts and path != _BUSYBOX_IN_ROOT:
            paths.append(path)
    if not paths:
        raise OperationFailed(f"{busybox} --list-full listed no applets")
    return paths


def _populate(root: Path, busybox: Path, version: str, applets: list[PurePosixPath]) -> None:
    for rel, mode in _DIRS:
        (root / rel).mkdir(exist_ok=True)
        os.chmod(root / rel, mode)
    os.symlink("../run", root / "var/run")

    shutil.copyfile(busybox, root / _BUSYBOX_IN_ROOT)
    os.chmod(root / _BUSYBOX_IN_ROOT, 0o755)
    for applet in applets:
        link = root / applet
        link.parent.mkdir(parents=True, exist_ok=True)
        # Relative targets resolve the same inside the container and from the host.
        target = os.path.relpath(_BUSYBOX_IN_ROOT, applet.parent)
        try:
            os.symlink(target, link)
        except FileExistsError:
            pass  # an applet listed twice

    for rel, mode, content in _files(version):
        (root / rel).write_text(content)
        os.chmod(root / rel, mode)
