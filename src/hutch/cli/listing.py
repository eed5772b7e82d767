"""hutch list [-a] [-o COLUMNS] [--json] — the vzlist layout: CTID NPROC STATUS IP_ADDR HOSTNAME,
and IDMAP (shared, isolated or privileged)"""

from __future__ import annotations

import argparse

from hutch.cli import common

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.errors import HutchError

HEADERS = {
    "ctid": ("CTID", ">10"),
    "nproc": ("NPROC", "<6"),
    "status": ("STATUS", "<9"),
    "ip": ("IP_ADDR", "<15"),
    "hostname": ("HOSTNAME", "<20"),
    "template": ("TEMPLATE", "<20"),
    "pid": ("PID", ">8"),
    "uptime": ("UPTIME", ">8"),
    "onboot": ("ONBOOT", "<6"),
    "description": ("DESCRIPTION", "<20"),
    "idmap": ("IDMAP", "<10"),
    "cpu": ("CPU", ">9"),
    "mem": ("MEM", ">7"),
    "memlimit": ("MEMLIMIT", ">8"),
    "tasks": ("TASKS", ">5"),
    "numproc": ("NUMPROC", ">7"),
    "io": ("IO", ">7"),
    "diskspace": ("DISKSPACE", ">9"),
}
SIZES = ("mem", "memlimit", "io", "diskspace")  # bytes, shown as 12.3M (JSON keeps the numbers)
# vzlist's columns, and how the container's IDs map (privileged ones stand out)
DEFAULT = ("ctid", "nproc", "status", "ip", "hostname", "idmap")


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("ctids", nargs="*", metavar="ID", help="only these containers")
    p.add_argument("-a", "--all", action="store_true", help="stopped containers too")
    p.add_argument("-S", "--stopped", action="store_true", help="only stopped containers")
    p.add_argument(
        "-o", "--output", metavar="COLS", help="comma-separated columns: " + ",".join(HEADERS)
    )
    p.add_argument("-H", "--no-header", action="store_true", help="no header line")
    common.add_json(p)


def run(args: argparse.Namespace) -> int:
    from hutch.container.info import list_rows
    from hutch.errors import UsageError

    cols = tuple(c.strip() for c in args.output.split(",")) if args.output else DEFAULT
    for c in cols:
        if c not in HEADERS:
            raise UsageError(f"unknown column {c!r}", hint="columns: " + ",".join(HEADERS))
    ctids = [common.valid_id(c) for c in args.ctids]
    which = "stopped" if args.stopped else "all" if args.all or ctids else "running"
    rows, broken = list_rows(common.paths(args), ctids, which, cols)
    if args.json:
        common.print_json([{c: r.get(c) for c in cols} for r in rows])
        return _broken(broken)
    lines = []
    if not args.no_header:
        lines.append(" ".join(format(HEADERS[c][0], HEADERS[c][1]) for c in cols))
    for r in rows:
        lines.append(" ".join(format(_cell(r.get(c), c), HEADERS[c][1]) for c in cols))
    print("\n".join(line.rstrip() for line in lines))
    return _broken(broken)


def _broken(errors: list[HutchError]) -> int:
    """One line for the containers `list` could not show; its exit status."""
    if not errors:
        return 0
    import sys

    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    print(f"hutch: {errors[0]}{more}", file=sys.stderr)
    return int(errors[0].exit_code)


def _cell(value: object, column: str = "") -> str:
    if value is None:
        return "-"
    if column in SIZES and isinstance(value, int):
        from hutch.cli.stats import human_size

        return human_size(value)
    if column == "cpu" and isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
