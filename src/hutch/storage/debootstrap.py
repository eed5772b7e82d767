"""Debian templates made with debootstrap: `hutch template create debian-12`.

The build is three steps, each undone if a later one fails:

1. debootstrap (variant minbase, plus what a system container needs to boot systemd and be
   reached: systemd, systemd-sysv, dbus, ifupdown, iproute2, procps, and the caller's
   packages) into a scratch directory next to the template cache;
2. the container fix-ups, a plan of small operations (`fixup_plan`, readable without root):
   units that need hardware or the host kernel a container has not got are masked (gettys on
   virtual terminals and serial lines, hwclock, udev, module loading, sysctl, the audit
   socket), the root password is locked, /etc/machine-id is emptied so every container gets
   its own, and /dev is emptied (hutch mounts its own);
3. the tree is packed as the OpenVZ-named tarball `debian-12-x86_64-minimal.tar.zst` and
   handed to `hutch.storage.cache.import_template`, so it passes the same extract checks as
   any other template before it enters the cache.

The scratch directory is always removed; debootstrap mounts /proc and /sys (and, in a
container, binds /dev) inside it, so whatever is still mounted there is detached first —
`rmtree` would otherwise walk into the host's /dev.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from hutch.errors import KernelFeatureMissing, OperationFailed, UsageError
from hutch.linux import syscalls as sc
from hutch.linux.rootpath import (
    RootFileRefused,
    open_in_root,
    opened_root,
    read_file_in_root,
    replace_symlink_in_root,
    write_file_in_root,
)
from hutch.paths import Paths
from hutch.storage.cache import TemplateInfo, _check_free, import_template, validate_name
from hutch.storage.extract import Summary

__all__ = [
    "BASE_PACKAGES",
    "RELEASES",
    "BuildSpec",
    "build_template",
    "default_mirror",
    "fixup_plan",
]

# hutch release name -> Debian suite
RELEASES = {"debian-11": "bullseye", "debian-12": "bookworm", "debian-13": "trixie"}
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "ifupdown", "iproute2", "procps")
FALLBACK_MIRROR = "http://deb.debian.org/debian"
# uname -m -> Debian architecture (the template name keeps the uname one, as OpenVZ's do)
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "i386", "armv7l": "armhf"}

# Units a container cannot use: no virtual terminals or serial lines (the console is served by
# console-getty.service, which systemd's getty generator adds in a container), no hardware
# clock, no udev (/sys is read-only and devices come from hutch), no kernel modules or sysctls
# (both the host's), no audit (not namespaced).
MASKED_UNITS = (
    "getty@.service",
    "serial-getty@.service",
    "hwclock.service",
    "systemd-hwclock.service",
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-udev-trigger.service",
    "systemd-udev-settle.service",
    "systemd-modules-load.service",
    "kmod-static-nodes.service",
    "systemd-sysctl.service",
    "systemd-journald-audit.socket",
    "systemd-firstboot.service",  # would ask on the console at the first boot
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "sys-fs-fuse-connections.mount",
)

# Each container makes its own ssh host keys at its first boot (a template must not carry
# keys every container made from it would share).
SSH_KEYGEN_UNIT = """\
# hutch: host keys are made at the first boot, so containers from one template differ.
[Unit]
Description=OpenSSH host keys
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""

Log = Callable[[str], None]


# -- the fix-up plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class MaskUnit:
    unit: str

    def describe(self) -> str:
        return f"mask {self.unit}"

    def execute(self, root: Path) -> None:
        with opened_root(str(root)) as rootfd:
            replace_symlink_in_root(rootfd, "/dev/null", f"etc/systemd/system/{self.unit}")


@dataclass(frozen=True)
class WriteFile:
    path: str
    content: str
    mode: int = 0o644

    def describe(self) -> str:
        return f"write /{self.path}"

    def execute(self, root: Path) -> None:
        # inside the root: the tree's packages may have planted links (never written through)
        with opened_root(str(root)) as rootfd:
            write_file_in_root(rootfd, self.path, self.content.encode(), self.mode)


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str

    def describe(self) -> str:
        return f"symlink /{self.path} -> {self.target}"

    def execute(self, root: Path) -> None:
        with opened_root(str(root)) as rootfd:
            replace_symlink_in_root(rootfd, self.target, self.path)


@dataclass(frozen=True)
class EmptyDir:
    """Remove what is inside a directory (not the directory itself)."""

    path: str
    pattern: str = "*"

    def describe(self) -> str:
        return f"empty /{self.path}/{self.pattern}"

    def execute(self, root: Path) -> None:
        # the directory is resolved inside the root (a link there must not empty a host
        # directory); entries are removed by name in it, links themselves, not followed
        with opened_root(str(root)) as rootfd:
            try:
                dfd = open_in_root(rootfd, self.path, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                return
        try:
            for entry in os.scandir(dfd):
                if not fnmatch.fnmatchcase(entry.name, self.pattern):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.name, dir_fd=dfd)
                else:
                    os.unlink(entry.name, dir_fd=dfd)
        finally:
            os.close(dfd)


@dataclass(frozen=True)
class LockRoot:
    """`passwd -l root`, done on /etc/shadow directly: no password logs in as root."""

    def describe(self) -> str:
        return "lock root's password"

    def execute(self, root: Path) -> None:
        with opened_root(str(root)) as rootfd:
            data = read_file_in_root(rootfd, "etc/shadow")
            if data is None:
                raise OperationFailed("the debootstrapped tree has no /etc/shadow")
            write_file_in_root(rootfd, "etc/shadow", self.locked(data.decode()).encode())

    @staticmethod
    def locked(text: str) -> str:
        lines = text.splitlines(keepends=True)
        for i, line in enumerate(lines):
            fields = line.split(":")
            if fields[0] == "root" and len(fields) > 1 and not fields[1].startswith("!"):
                fields[1] = "!" + fields[1]
                lines[i] = ":".join(fields)
        return "".join(lines)


@dataclass(frozen=True)
class CommentOut:
    """Comment out the lines matching `regex` in a file, if the file exists (rsyslog's imklog:
    the kernel log is the host's)."""

    path: str
    regex: str

    def describe(self) -> str:
        return f"comment out {self.regex!r} in /{self.path}"

    def execute(self, root: Path) -> None:
        with opened_root(str(root)) as rootfd:
            try:
                data = read_file_in_root(rootfd, self.path)
            except RootFileRefused:
                return  # not a regular file: nothing of ours to edit
            if data is None:
                return
            pattern = re.compile(self.regex)
            lines = data.decode(errors="replace").splitlines(keepends=True)
            text = "".join("#" + x if pattern.search(x) else x for x in lines)
            write_file_in_root(rootfd, self.path, text.encode())


Fixup = MaskUnit | WriteFile | Symlink | EmptyDir | LockRoot | CommentOut


def fixup_plan(suite: str, mirror: str, packages: Iterable[str] = ()) -> list[Fixup]:
    """What turns a debootstrapped tree into a system container template, in order."""
    packages = set(packages)
    plan: list[Fixup] = [MaskUnit(u) for u in MASKED_UNITS]
    plan += [
        LockRoot(),
        # empty, not missing: systemd makes a fresh id at each boot until it can commit one
        WriteFile("etc/machine-id", ""),
        Symlink("var/lib/dbus/machine-id", "/etc/machine-id"),
        WriteFile("etc/fstab", "# hutch mounts the container's filesystems\n"),
        WriteFile(
            "etc/apt/sources.list",
            f"deb {mirror} {suite} main\n"
            + (f"deb {mirror} {suite}-updates main\n" if suite != "sid" else ""),
        ),
        WriteFile(
            "etc/network/interfaces",
            "# hutch configures the container's interfaces from the host\n"
            "auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n",
        ),
        CommentOut("etc/rsyslog.conf", r"^\s*(module\(load=\"imklog\"|\$ModLoad imklog)"),
        EmptyDir("dev"),
        EmptyDir("var/cache/apt/archives", "*.deb"),
        EmptyDir("var/lib/apt/lists", "*_*"),
        EmptyDir("var/log", "*.log"),
        EmptyDir("tmp"),
    ]
    if "openssh-server" in packages:
        plan += [
            EmptyDir("etc/ssh", "ssh_host_*"),
            WriteFile("etc/systemd/system/hutch-ssh-keygen.service", SSH_KEYGEN_UNIT),
            Symlink(
                "etc/systemd/system/multi-user.target.wants/hutch-ssh-keygen.service",
                "/etc/systemd/system/hutch-ssh-keygen.service",
            ),
        ]
    return plan


# -- the build --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildSpec:
    release: str  # debian-12
    packages: tuple[str, ...] = ()
    mirror: str | None = None
    name: str | None = None  # default: debian-12-x86_64-minimal

    @property
    def suite(self) -> str:
        return RELEASES[self.release]

    @property
    def arch(self) -> str:
        return platform.machine()

    @property
    def template_name(self) -> str:
        return self.name or f"{self.release}-{self.arch}-minimal"


def default_mirror(sources: Iterable[Path] | None = None) -> str:
    """The Debian mirror the host's apt uses (so a build works wherever apt works), else
    deb.debian.org."""
    if sources is None:
        d = Path("/etc/apt/sources.list.d")
        sources = [Path("/etc/apt/sources.list")]
        with contextlib.suppress(OSError):
            sources += sorted(d.iterdir())
    for src in sources:
        try:
            text = src.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.match(r"^(?:deb\s+(?:\[[^]]*\]\s+)?|URIs:\s*)(\S+)", line)
            if m and re.search(r"/debian/?$", m.group(1)):
                return m.group(1).rstrip("/")
    return FALLBACK_MIRROR


def validate(spec: BuildSpec) -> None:
    if spec.release not in RELEASES:
        raise UsageError(
            f"unknown release {spec.release!r}",
            hint="known: " + ", ".join(RELEASES),
        )
    if spec.arch not in DEB_ARCH:
        raise UsageError(f"cannot build Debian templates on {spec.arch}")
    for p in spec.packages:
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p):
            raise UsageError(f"invalid package name {p!r}")
    validate_name(spec.template_name)


def build_template(
    paths: Paths, spec: BuildSpec, log: Log | None = None, workdir: Path | None = None
) -> tuple[TemplateInfo, Summary]:
    """Build the template `spec` describes and add it to the cache. `log` gets every line
    of progress (debootstrap's own output, then hutch's steps)."""
    validate(spec)
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise KernelFeatureMissing(
            "debootstrap is not installed", hint="apt-get install debootstrap"
        )
    say = log or (lambda line: None)
    _check_free(paths, spec.template_name)  # fail now, not after minutes of download
    mirror = spec.mirror or default_mirror()
    packages = tuple(dict.fromkeys(BASE_PACKAGES + spec.packages))
    base = workdir or paths.templates
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{spec.template_name}.", suffix=".build", dir=base))
    try:
        root = scratch / "root"
        argv = [
            debootstrap,
            "--variant=minbase",
            f"--arch={DEB_ARCH[spec.arch]}",
            "--include=" + ",".join(packages),
            spec.suite,
            str(root),
            mirror,
        ]
        say(f"debootstrap {spec.suite} from {mirror}: " + " ".join(packages))
        _run(argv, say, "debootstrap")
        _detach_mounts(root)
        say("container fix-ups")
        for op in fixup_plan(spec.suite, mirror, packages):
            op.execute(root)
        archive = scratch / f"{spec.template_name}.tar.zst"
        say(f"packing {archive.name}")
        _pack(root, archive)
        say(f"checking {archive.name}")
        return import_template(paths, archive, spec.template_name)
    finally:
        _detach_mounts(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


def _run(argv: list[str], say: Log, what: str) -> None:
    tail: list[str] = []
    env = dict(os.environ, LC_ALL="C.UTF-8", DEBIAN_FRONTEND="noninteractive")
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                say(line)
                tail = [*tail, line][-5:]
    if proc.returncode != 0:
        raise OperationFailed(
            f"{what} failed (exit status {proc.returncode}): " + " / ".join(tail[-2:]),
            hint="the lines above are its output; for debootstrap see also "
            "debootstrap/debootstrap.log in the build directory",
        )


def _pack(root: Path, archive: Path) -> None:
    zstd = shutil.which("zstd")
    if zstd is None:
        raise KernelFeatureMissing("zstd is not installed", hint="apt-get install zstd")
    with open(archive, "wb") as out:
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", "-", "."],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert tar.stdout is not None
        z = subprocess.run([zstd, "-q", "-T0", "-3"], stdin=tar.stdout, stdout=out, check=False)
        tar.stdout.close()
        err = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
        if tar.wait() != 0 or z.returncode != 0:
            raise OperationFailed(f"cannot pack {root} into {archive}: {err.strip()}")


def _detach_mounts(top: Path) -> None:
    """Detach every mount at or under `top`, deepest first (debootstrap leaves /proc, /sys
    and perhaps a /dev bind mounted when it fails halfway)."""
    prefix = os.path.realpath(top)
    targets = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4].encode().decode("unicode_escape")
            if mnt == prefix or mnt.startswith(prefix + "/"):
                targets.append(mnt)
    for mnt in sorted(targets, key=len, reverse=True):
        with contextlib.suppress(OSError):
            sc.umount2(mnt, sc.MNT_DETACH)
