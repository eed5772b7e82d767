"""hutch beancounters [ID...] [--json] — OpenVZ's /proc/user_beancounters for hutch containers."""

from __future__ import annotations

import argparse

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("ctids", nargs="*", metavar="ID", help="only these containers (default: all)")
    common.add_json(p)


def run(args: argparse.Namespace) -> int:
    from hutch.container import beancounters

    ctids = [common.valid_id(c) for c in args.ctids]
    table = beancounters.read_running(common.paths(args), ctids)
    if args.json:
        common.print_json(beancounters.to_json(table))
    else:
        print(beancounters.format_table(table), end="")
    return 0
