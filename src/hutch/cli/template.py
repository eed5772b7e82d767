"""hutch template list|import|create|remove — the OS template cache (vzpkg's job in OpenVZ)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hutch.cli import common

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.paths import Paths

EPILOG = """\
examples:
  hutch template list
  hutch template import debian-12-x86_64-minimal.tar.gz    # name: debian-12-x86_64-minimal
  hutch template import rootfs.tar.zst --name alpine-3.20
  hutch create 101 --template debian-12-x86_64-minimal
  hutch template remove alpine-3.20
  hutch template create debian-12                            # debian-12-x86_64-minimal
  hutch template create debian-12 --packages openssh-server,apache2,cron --name web-12

Templates are kept in /var/cache/hutch/templates as NAME.tar[.gz|.xz|.zst] (OpenVZ's
precreated templates work as they are). An archive is only accepted when every entry is
safe to unpack: nothing outside the root, no writes through symlinks, no device nodes
but null, zero, full, random, urandom, tty, console and ptmx.

`template create` builds debian-11, debian-12 or debian-13 with debootstrap (minbase with
systemd, dbus, ifupdown, iproute2, procps and --packages), masks what a container cannot
run (gettys on terminals it lacks, hwclock, udev, module loading, sysctl) and adds it to the
cache. The mirror defaults to the host's apt mirror for Debian, else deb.debian.org.
"""


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    p.epilog = EPILOG
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="list the templates (the built-in busybox and the cache)")
    common.add_json(ls)
    imp = sub.add_parser("import", help="check a tarball and add it to the cache")
    imp.add_argument("file", metavar="FILE", type=Path, help=".tar, .tar.gz, .tar.xz or .tar.zst")
    imp.add_argument("--name", metavar="NAME", help="template name (default: FILE's, less .tar.*)")
    common.add_json(imp)
    mk = sub.add_parser("create", help="build a Debian template with debootstrap")
    mk.add_argument("release", metavar="RELEASE", help="debian-11, debian-12 or debian-13")
    mk.add_argument(
        "--packages",
        metavar="A,B",
        default="",
        help="more packages to install (comma separated), e.g. openssh-server,cron",
    )
    mk.add_argument("--mirror", metavar="URL", help="Debian mirror (default: the host's apt one)")
    mk.add_argument("--name", metavar="NAME", help="template name (default: RELEASE-ARCH-minimal)")
    common.add_json(mk)
    rm = sub.add_parser("remove", aliases=["rm"], help="remove a template from the cache")
    rm.add_argument("name", metavar="NAME")


def run(args: argparse.Namespace) -> int:
    from hutch.storage import cache

    paths = common.paths(args)
    if args.action == "list":
        templates = common.library_host(args).templates
        if args.json:
            common.print_json([t.to_dict() for t in templates])
            return 0
        rows = [("NAME", "FORMAT", "SIZE", "MODIFIED")]
        for t in templates:
            size = _size(t.size) if t.size is not None else "-"
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(t.mtime)) if t.mtime else "-"
            rows.append((t.name, t.format, size, when))
        width = max(len(r[0]) for r in rows)
        for name, fmt, size, when in rows:
            print(f"{name:<{width}}  {fmt:<8} {size:>7}  {when}".rstrip())
        return 0
    if args.action == "import":
        label = args.name or args.file.name
        with _Progress(f"checking {label}") as progress:
            info, summary = cache.import_template(paths, args.file, args.name, progress.callback)
        if args.json:
            common.print_json(info.to_dict() | {"entries": summary.entries})
        else:
            print(
                f"Template {info.name} imported ({info.format}, {_size(info.size or 0)}, "
                f"{summary.entries} entries)"
            )
        return 0
    if args.action == "create":
        return _create(args, paths)
    info = cache.remove_template(paths, args.name)
    print(f"Template {info.name} removed")
    return 0


def _create(args: argparse.Namespace, paths: Paths) -> int:
    from hutch.storage import debootstrap

    spec = debootstrap.BuildSpec(
        release=args.release,
        packages=tuple(p.strip() for p in args.packages.split(",") if p.strip()),
        mirror=args.mirror,
        name=args.name,
    )
    started = time.monotonic()
    info, summary = debootstrap.build_template(paths, spec, log=_progress_line)
    took = time.monotonic() - started
    if args.json:
        common.print_json(info.to_dict() | {"entries": summary.entries, "seconds": round(took)})
    else:
        print(
            f"Template {info.name} created ({info.format}, {_size(info.size or 0)}, "
            f"{summary.entries} entries, {took:.0f}s)"
        )
    return 0


def _progress_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _size(n: int) -> str:
    from hutch.cli.stats import human_size

    return human_size(n)


class _Progress:
    """`checking NAME: 41% (123M of 300M)` on one stderr line, when stderr is a terminal."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.shown = False
        self.last = 0.0
        self.callback = self._show if sys.stderr.isatty() else None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _show(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.1 and done < total:
            return
        self.last = now
        pct = done * 100 // total if total else 100
        sys.stderr.write(f"\r{self.what}: {pct:3d}% ({_size(done)} of {_size(total)})\033[K")
        sys.stderr.flush()
        self.shown = True
