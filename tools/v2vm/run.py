#!/usr/bin/python3
"""Run one command on a pure cgroup v2 host: a throwaway qemu VM over this host's own /.

    python3 tools/v2vm/run.py [--timeout S] [--env K=V]... [--verbose] -- CMD ARGS...
    python3 tools/v2vm/run.py --prepare        build the cache only

The VM boots Debian's generic kernel with `cgroup_no_v1=all`, so cgroup2 is the only
hierarchy whatever this host runs. Its root is this host's / shared read-only over 9p
under a tmpfs overlay: the same Python, venv and checkout sit at the same paths, and
writes inside vanish with the VM. /tmp, /var/tmp and /run are fresh tmpfs (the host's are
hidden). CMD runs as root in the current directory, stdin /dev/null; its stdout and stderr
(pipes, not a terminal) arrive on ours, and we exit with its status: 124 when the
timeout killed the VM, 125 when the VM itself failed. The VM has no network device.

The kernel and initramfs are cached under /var/cache/hutch-test/v2vm/<package>_<version>/,
built on first use from the kernel package fetched with `apt-get download` (unpacked there,
never installed on this host). HUTCH_V2VM_ACCEL=kvm uses KVM where it works (not here).
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import hashlib
import lzma
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

CACHE_ROOT = Path(os.environ.get("HUTCH_V2VM_CACHE", "/var/cache/hutch-test/v2vm"))
KERNEL_META_PACKAGE = "linux-image-amd64"
QEMU = "qemu-system-x86_64"
ACCEL = os.environ.get("HUTCH_V2VM_ACCEL", "tcg")
BUSYBOX = Path("/bin/busybox")  # busybox-static: the initramfs needs a static one
DEFAULT_TIMEOUT = 300.0
MEMORY_MIB = 1536
CPUS = 2  # cpuset tests want more than one; a second vCPU costs little under MTTCG

# What /init needs from the modular Debian kernel; what they depend on is read from each
# module's own .modinfo. Bump LAYOUT when what goes into a kernel directory changes.
WANTED_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
LAYOUT = f"1 {' '.join(WANTED_MODULES)}\n"

EXIT_TIMEOUT = 124
EXIT_VM_FAILED = 125

# Environment handed to CMD; everything else of ours stays out (pytest's PYTEST_*
# variables, terminal and socket settings that mean nothing inside).
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "VIRTUAL_ENV")
FIXED_ENV = {"HOME": "/root", "PYTHONDONTWRITEBYTECODE": "1", "HUTCH_V2VM": "1"}

# quiet: the console is only read when something failed. mitigations cost emulated time
# for nothing. acpi=noirq: routing PCI interrupts through ACPI's interpreter took 0.7 s
# of the boot. panic=-1 resets at once if /init dies, and -no-reboot makes that an exit.
QUIET_ARGS = "quiet loglevel=0"
KERNEL_ARGS = (
    f"console=ttyS0 {QUIET_ARGS} panic=-1 rdinit=/init "
    "cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 "
    "mitigations=off acpi=noirq tsc=reliable no_timer_check random.trust_cpu=on "
    "i8042.noaux i8042.nopnp 8250.nr_uarts=3"
)


class V2VMUnavailable(RuntimeError):
    """qemu, the kernel package or the cache cannot be had on this machine."""


# --------------------------------------------------------------------------- cache


@contextmanager
def cache_lock() -> Iterator[None]:
    # Concurrent runs must not build, or prune, the same cache at once.
    try:
        CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise V2VMUnavailable(f"cannot create {CACHE_ROOT}: {exc}") from exc
    with open(CACHE_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def apt_kernel_package() -> tuple[str, str]:
    """The versioned kernel package the meta package depends on, and its version."""
    try:
        out = subprocess.run(
            ["apt-cache", "show", "--no-all-versions", KERNEL_META_PACKAGE],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise V2VMUnavailable(
            f"apt-cache knows no {KERNEL_META_PACKAGE} (run apt-get update?): {exc}"
        ) from exc
    match = re.search(r"^Depends:.*?\b(linux-image-[\w.+-]+) \(= ([^)]+)\)", out, re.M)
    if match is None:
        raise V2VMUnavailable(f"{KERNEL_META_PACKAGE} names no versioned kernel package")
    return match.group(1), match.group(2)


def is_complete(kdir: Path) -> bool:
    layout = kdir / "layout"
    return layout.is_file() and layout.read_text() == LAYOUT


def kernel_dir(refresh: bool) -> Path:
    """The cached kernel to boot, built first if there is none.

    An existing cache wins, so warm runs ask apt nothing and work offline; `refresh` asks
    apt for its current kernel, builds that if new, and drops the others.
    """
    with cache_lock():
        cached = sorted(
            (d for d in CACHE_ROOT.iterdir() if is_complete(d)),
            key=lambda d: d.stat().st_mtime,
            reverse=True,
        )
        if cached and not refresh:
            return cached[0]
        package, version = apt_kernel_package()
        target = CACHE_ROOT / f"{package}_{version}"
        if not is_complete(target):
            build_kernel_dir(package, version, target)
        for old in CACHE_ROOT.glob("linux-image-*"):
            if old != target:
                shutil.rmtree(old)
        return target


def build_kernel_dir(package: str, version: str, target: Path) -> None:
    # Built beside the target and renamed into place: a crash leaves no half cache.
    with tempfile.TemporaryDirectory(prefix=".build-", dir=CACHE_ROOT) as tmp:
        work = Path(tmp)
        deb = download_package(package, version, work)
        tree = work / "tree"
        run_quiet(["dpkg-deb", "-x", str(deb), str(tree)])
        staged = work / "out"
        (staged / "modules").mkdir(parents=True)
        vmlinuz = next((tree / "boot").glob("vmlinuz-*"), None)
        if vmlinuz is None:
            raise V2VMUnavailable(f"{deb.name} has no /boot/vmlinuz-*")
        write_kernel_image(vmlinuz, tree / "boot", staged / "kernel")
        order = copy_modules(tree, staged / "modules")
        (staged / "modules.order").write_text(" ".join(order) + "\n")
        (staged / "layout").write_text(LAYOUT)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)


def download_package(package: str, version: str, work: Path) -> Path:
    # apt downloads as the _apt user, who must be able to write here
    work.chmod(0o755)
    try:
        run_quiet(["apt-get", "download", "-q", f"{package}={version}"], cwd=work)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise V2VMUnavailable(f"apt-get download {package}={version} failed: {exc}") from exc
    debs = list(work.glob("*.deb"))
    if len(debs) != 1:
        raise V2VMUnavailable(f"apt-get download {package} left {len(debs)} .deb files")
    return debs[0]


def write_kernel_image(vmlinuz: Path, boot: Path, out: Path) -> None:
    """Store the kernel in the form that boots fastest under emulation.

    A bzImage spends 6-7 s of emulated CPU unpacking its xz payload at every boot; the
    ELF vmlinux inside it boots straight through its PVH entry point, which qemu's -kernel
    takes. Kernels without PVH, or with a payload we cannot unpack, stay a bzImage.
    """
    config = next(boot.glob("config-*"), None)
    pvh = config is not None and "\nCONFIG_PVH=y\n" in config.read_text()
    elf = unpack_bzimage(vmlinuz.read_bytes()) if pvh else None
    if elf is None:
        shutil.copyfile(vmlinuz, out)
    else:
        out.write_bytes(elf)


def unpack_bzimage(image: bytes) -> bytes | None:
    """The vmlinux ELF inside an xz-compressed bzImage (Debian's kind), or None."""
    if image[0x202:0x206] != b"HdrS":
        return None
    setup_sectors = image[0x1F1] or 4
    (payload_offset,) = struct.unpack_from("<I", image, 0x248)
    start = (setup_sectors + 1) * 512 + payload_offset
    if image[start : start + 6] != b"\xfd7zXZ\x00":
        return None
    # The decompressor stops at the end of the xz stream by itself; the header's payload
    # length falls short of it on Debian's signed images.
    try:
        elf = lzma.LZMADecompressor().decompress(image[start:])
    except lzma.LZMAError:
        return None
    return elf if elf.startswith(b"\x7fELF") else None


MODULE_SUFFIXES = (".ko", ".ko.xz")  # Debian 12 ships plain modules; newer may compress


def copy_modules(tree: Path, dest: Path) -> list[str]:
    """Copy WANTED_MODULES and their dependencies as plain .ko; return them in load order."""
    index: dict[str, Path] = {}
    for path in tree.glob("lib/modules/*/kernel/**/*.ko*"):
        for suffix in MODULE_SUFFIXES:
            if path.name.endswith(suffix):
                index[normal_name(path.name[: -len(suffix)])] = path
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        path = index.get(name)
        if path is None:
            raise V2VMUnavailable(f"the kernel package has no module {name}")
        # busybox insmod takes neither compressed nor, quickly, signed modules
        data = path.read_bytes()
        ko = strip_signature(lzma.decompress(data) if path.suffix == ".xz" else data)
        for dep in module_depends(ko):
            visit(dep)
        order.append(name)
        (dest / f"{name}.ko").write_bytes(ko)

    for wanted in WANTED_MODULES:
        visit(normal_name(wanted))
    return order


def normal_name(module: str) -> str:
    # The kernel treats - and _ in module names alike; .modinfo writes _.
    return module.replace("-", "_")


SIGNATURE_MAGIC = b"~Module signature appended~\n"


def strip_signature(ko: bytes) -> bytes:
    """The module without its appended signature.

    Checking it costs emulated CPU at every boot; unsigned, the module merely taints a
    kernel that does not enforce signatures (no secure boot in the VM).
    """
    if not ko.endswith(SIGNATURE_MAGIC):
        return ko
    # struct module_signature: 12 bytes before the magic, ending in a big-endian length
    trailer_at = len(ko) - len(SIGNATURE_MAGIC) - 12
    (sig_len,) = struct.unpack_from(">I", ko, trailer_at + 8)
    return ko[: trailer_at - sig_len]


def module_depends(ko: bytes) -> list[str]:
    """The `depends=` names in a module's .modinfo ELF section (what depmod reads)."""
    (shoff,) = struct.unpack_from("<Q", ko, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ko, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        # (name offset in the section-name table, file offset, size)
        base = shoff + index * shentsize
        (name_at,) = struct.unpack_from("<I", ko, base)
        offset, size = struct.unpack_from("<QQ", ko, base + 0x18)
        return name_at, offset, size

    _, names, _ = section(shstrndx)
    for index in range(shnum):
        name_at, offset, size = section(index)
        start = names + name_at
        if ko[start : ko.index(b"\0", start)] != b".modinfo":
            continue
        for field in ko[offset : offset + size].split(b"\0"):
            if field.startswith(b"depends="):
                return [normal_name(n) for n in field[8:].decode().split(",") if n]
    return []


# ----------------------------------------------------------------------- initramfs

# Stage 1, PID 1 in the initramfs: load the modules, mount the host's / (9p) under a tmpfs
# overlay, give it fresh kernel filesystems with cgroup2 alone at /sys/fs/cgroup, and
# switch_root into it to run the job script the host left on the `v2vmjob` share.
INIT_SCRIPT = r"""#!/bin/busybox sh
export PATH=/bin
/bin/busybox --install -s /bin
fail() { echo "v2vm-init: $*"; reboot -f; }
mount -t proc proc /proc
# with --verbose, say when each step ended (seconds since the kernel started)
step() { :; }
grep -q v2vm.verbose /proc/cmdline && step() { read -r t _ </proc/uptime; echo "v2vm-init $t $*"; }
step start
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod "/modules/$m.ko" || fail "insmod $m"; done
step modules
mkdir -p /lower /rw /new
# cache=loose: the host tree does not change under a run, and uncached 9p would make
# every stat of every Python import a round trip to qemu
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /lower \
    || fail "mount 9p root"
mount -t tmpfs -o mode=755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /new \
    || fail "mount overlay"
step root
cd /new
mount -t proc proc proc
mount -t sysfs sys sys
mount -t cgroup2 cgroup2 sys/fs/cgroup || fail "mount cgroup2"
mount -t devtmpfs dev dev
mkdir -p dev/pts dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts dev/pts
mount -t tmpfs -o mode=1777 shm dev/shm
# fresh scratch space, hiding the host's own files there
for d in tmp var/tmp; do mount -t tmpfs -o mode=1777 tmp "$d"; done
mount -t tmpfs -o mode=755 run run
mkdir -p run/v2vm run/v2vm-bin run/v2vm-host/tmp run/v2vm-host/var/tmp
# the host's scratch dirs stay reachable (read-only), for a checkout that lives there
mount --bind /lower/tmp run/v2vm-host/tmp
mount --bind /lower/var/tmp run/v2vm-host/var/tmp
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 v2vmjob run/v2vm || fail "mount job"
# stage 2 runs on this copy in tmpfs: loading busybox over 9p cost 0.3 s more
cp /bin/busybox run/v2vm-bin/busybox
hostname v2vm
step mounts
umount /proc /dev
exec switch_root /new /run/v2vm-bin/busybox sh /run/v2vm/job.sh
fail "switch_root"
"""

CONSOLE = ("dev/console", 0o020600, b"5:1")  # for /init's stdio, before /dev is mounted


def initramfs(kdir: Path) -> Path:
    """The cached initramfs for this kernel, rebuilt when /init, busybox or modules change."""
    order = (kdir / "modules.order").read_text().split()
    busybox = BUSYBOX.read_bytes()
    key = hashlib.sha256(INIT_SCRIPT.encode() + busybox + " ".join(order).encode())
    path = kdir / f"initramfs-{key.hexdigest()[:16]}.cpio"
    with cache_lock():
        if path.is_file():
            return path
        for stale in kdir.glob("initramfs-*"):
            stale.unlink()
        entries = [
            ("bin", 0o040755, b""),
            ("proc", 0o040755, b""),
            ("dev", 0o040755, b""),
            CONSOLE,
            ("modules", 0o040755, b""),
            ("bin/busybox", 0o100755, busybox),
            ("init", 0o100755, INIT_SCRIPT.encode()),
            ("modules.order", 0o100644, " ".join(order).encode()),
        ]
        for name in order:
            ko = (kdir / "modules" / f"{name}.ko").read_bytes()
            entries.append((f"modules/{name}.ko", 0o100644, ko))
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(newc_archive(entries))
        tmp.rename(path)
    return path


def newc_archive(entries: Sequence[tuple[str, int, bytes]]) -> bytes:
    """An uncompressed cpio (newc) archive, which the kernel unpacks with no decompressor.

    Entries are (path, mode, data); a device node's data is b"major:minor".
    """
    out = bytearray()

    def member(ino: int, name: str, mode: int, data: bytes) -> None:
        major = minor = 0
        if mode & 0o170000 in (0o020000, 0o060000):
            major, minor = (int(n) for n in data.split(b":"))
            data = b""
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(name) + 1, 0)
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.extend(name.encode() + b"\0")
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data) in enumerate(entries, start=1):
        member(ino, name, mode, data)
    member(0, "TRAILER!!!", 0, b"")
    return bytes(out)


# ------------------------------------------------------------------------------ VM


def job_script(argv: Sequence[str], cwd: str, env: dict[str, str], verbose: bool) -> str:
    """Stage 2, PID 1 in the VM's root (busybox sh): run CMD as its child, report, reset.

    CMD writes into fifos, so it sees pipes as under subprocess on the host, not a
    terminal; two cats copy them to ttyS1 and ttyS2, which qemu hands to our stdout and
    stderr byte for byte (-opost: no \\r added), apart from the kernel's ttyS0 console.
    The exit status goes to the job share; a missing one means the VM failed.
    """
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
    command = f"{{ cd {shlex.quote(cwd)} && {shlex.join(argv)}; }}"
    for scratch in ("/tmp/", "/var/tmp/"):
        if cwd.startswith(scratch):
            # /tmp is the VM's own there: bring the host's copy of the checkout back in place
            q = shlex.quote(cwd)
            host = shlex.quote(f"/run/v2vm-host{cwd}")
            command = f"$b mkdir -p {q} && $b mount --bind {host} {q} && {command}"
    return (
        "b=/run/v2vm-bin/busybox\n"
        + ('echo "v2vm-job $($b cut -d" " -f1 /proc/uptime) start"\n' if verbose else "")
        + "$b stty -F /dev/ttyS1 raw -echo -opost; $b stty -F /dev/ttyS2 raw -echo -opost\n"
        "$b mkfifo /run/v2vm-out /run/v2vm-err\n"
        "$b cat /run/v2vm-out >/dev/ttyS1 & out=$!\n"
        "$b cat /run/v2vm-err >/dev/ttyS2 & err=$!\n"
        f"{exports}"
        # the group's redirections open the fifos before cd can fail: the cats always end
        f"{command} </dev/null >/run/v2vm-out 2>/run/v2vm-err\n"
        "rc=$?\n"
        # a daemon CMD left behind may hold the fifos open: the cats get 5 s, no more
        "{ $b sleep 5; kill $out $err; } 2>/dev/null & wait $out $err\n"
        "echo $rc >/run/v2vm/exit\n"
        'echo "v2vm-job exit $rc"\n'
        "$b reboot -f\n"
    )


def qemu_command(
    kernel: Path, initrd: Path, cmdline: str, jobdir: Path, out_fd: int, err_fd: int
) -> list[str]:
    # -nodefaults: no NIC, VGA, disks or monitor beyond what is listed here
    machine = ["-accel", ACCEL, "-cpu", "max", "-smp", str(CPUS), "-m", str(MEMORY_MIB)]
    quiet = ["-nodefaults", "-no-user-config", "-display", "none", "-nic", "none"]
    boot = ["-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline]
    shares = [
        # the host's / read-only; remap keeps inode numbers unique across its mounts
        "-fsdev",
        "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
        "-device",
        "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot",
        "-fsdev",
        f"local,id=v2vmjob,path={jobdir},security_model=none",
        "-device",
        "virtio-9p-pci,fsdev=v2vmjob,mount_tag=v2vmjob",
    ]
    # ttyS0 console to a file; ttyS1/2 to our pipes, which qemu reopens through /proc
    # (O_TRUNC means nothing to a pipe)
    serials: list[str] = []
    for name, path in (
        ("console", str(jobdir / "console.log")),
        ("out", f"/proc/self/fd/{out_fd}"),
        ("err", f"/proc/self/fd/{err_fd}"),
    ):
        serials += ["-chardev", f"file,id={name},path={path}", "-serial", f"chardev:{name}"]
    return [QEMU, *machine, *quiet, *boot, *shares, *serials]


# Looked up here, not in the forked child, where taking the loader's lock could deadlock.
_prctl = ctypes.CDLL(None, use_errno=True).prctl
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # In the child before exec: should we be killed outright, qemu is killed too.
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def relay(source: int, sink: BinaryIO) -> threading.Thread:
    def pump() -> None:
        with os.fdopen(source, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                sink.write(chunk)
                sink.flush()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def run_in_vm(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    refresh: bool = False,
    verbose: bool = False,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
) -> int:
    """Run argv in a fresh v2 VM and return its exit status (124: timeout, 125: VM failed).

    verbose boots without `quiet` and copies the VM's console to stderr afterwards.
    Raises V2VMUnavailable when qemu or the kernel cannot be had.
    """
    if shutil.which(QEMU) is None:
        raise V2VMUnavailable(f"{QEMU} not found (apt-get install qemu-system-x86)")
    kdir = kernel_dir(refresh)
    initrd = initramfs(kdir)
    sys.stdout.flush()  # what we printed before goes before what the VM prints
    out_sink = stdout or sys.stdout.buffer
    err_sink = stderr or sys.stderr.buffer
    job_env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    job_env.update(FIXED_ENV)
    job_env.update(env or {})
    with job_directory() as jobdir:
        (jobdir / "job.sh").write_text(job_script(argv, cwd or os.getcwd(), job_env, verbose))
        cmdline = KERNEL_ARGS.replace(QUIET_ARGS, "v2vm.verbose") if verbose else KERNEL_ARGS
        status = boot(kdir / "kernel", initrd, cmdline, jobdir, timeout, out_sink, err_sink)
        exit_file = jobdir / "exit"
        if status is None:
            status = int(exit_file.read_text()) if exit_file.is_file() else EXIT_VM_FAILED
        if verbose or not exit_file.is_file():
            show_logs(jobdir, err_sink, status)
        return status


@contextmanager
def job_directory() -> Iterator[Path]:
    """A fresh directory for the job share and logs, removed afterwards.

    Each is flock'ed while in use, so directories left by a run that was SIGKILLed (which
    no cleanup survives) are recognised and removed by the next run.
    """
    jobs = CACHE_ROOT / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    for old in jobs.iterdir():
        remove_if_abandoned(old)
    path = Path(tempfile.mkdtemp(dir=jobs))
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def remove_if_abandoned(path: Path) -> None:
    # a minute's grace: a directory just made may not be locked by its owner yet
    try:
        if time.time() - path.stat().st_mtime < 60:
            return
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        shutil.rmtree(path, ignore_errors=True)
    except BlockingIOError:
        pass  # its run is still going
    finally:
        os.close(fd)


def boot(
    kernel: Path,
    initrd: Path,
    cmdline: str,
    jobdir: Path,
    timeout: float,
    out: BinaryIO,
    err: BinaryIO,
) -> int | None:
    """Run qemu to its end: None if it ended by itself, else our own exit status.

    Whatever happens here, no qemu outlives the call.
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        with open(jobdir / "qemu.log", "wb") as qemu_log:
            proc = subprocess.Popen(
                qemu_command(kernel, initrd, cmdline, jobdir, out_w, err_w),
                stdin=subprocess.DEVNULL,
                stdout=qemu_log,
                stderr=qemu_log,
                pass_fds=(out_w, err_w),
                preexec_fn=die_with_parent,
            )
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        # qemu holds its own copies; ours would keep the relays from ever seeing EOF
        os.close(out_w)
        os.close(err_w)
    relays = [relay(out_r, out), relay(err_r, err)]
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        err.write(f"v2vm: timed out after {timeout:g} s; killed qemu {proc.pid}\n".encode())
        return EXIT_TIMEOUT
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        for thread in relays:
            thread.join(timeout=5)
    return None if proc.returncode == 0 else EXIT_VM_FAILED


def show_logs(jobdir: Path, err: BinaryIO, status: int) -> None:
    for name in ("console.log", "qemu.log"):
        log = jobdir / name
        if log.is_file() and log.stat().st_size:
            err.write(f"v2vm: exit {status}; {name}:\n".encode())
            err.write(log.read_bytes().replace(b"\r\n", b"\n"))
    err.flush()


# ----------------------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="v2vm", description="Run CMD in a throwaway VM on a pure cgroup v2 host."
    )
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds")
    parser.add_argument("--env", action="append", default=[], metavar="K=V", help="for CMD")
    parser.add_argument("--verbose", action="store_true", help="show the VM's console")
    parser.add_argument("--refresh", action="store_true", help="use apt's current kernel")
    parser.add_argument("--prepare", action="store_true", help="build the cache, run nothing")
    parser.add_argument("cmd", nargs="*", help="the command, after --")
    args = parser.parse_args(argv)
    if not args.cmd and not args.prepare:
        parser.error("no command given: v2vm [options] -- CMD ARGS...")
    if any("=" not in item for item in args.env):
        parser.error("--env takes K=V")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # by default SIGTERM ends us on the spot; as an exception it unwinds through cleanup
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if args.prepare:
            started = time.monotonic()
            kdir = kernel_dir(args.refresh)
            initramfs(kdir)
            print(f"v2vm: {kdir} ready in {time.monotonic() - started:.1f} s")
            return 0
        env = dict(item.split("=", 1) for item in args.env)
        return run_in_vm(
            args.cmd, env=env, timeout=args.timeout, refresh=args.refresh, verbose=args.verbose
        )
    except V2VMUnavailable as exc:
        print(f"v2vm: unavailable: {exc}", file=sys.stderr)
        return EXIT_VM_FAILED


def run_quiet(cmd: Sequence[str], cwd: Path | None = None) -> None:
    # apt's and dpkg's chatter only matters when they fail
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise subprocess.CalledProcessError(done.returncode, cmd)


if __name__ == "__main__":
    sys.exit(main())
