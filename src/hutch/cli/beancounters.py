"""hutch beancounters [ID...] [--json] — OpenVZ's /proc/user_beancounters for hutch containers."""

from __future__ import annotations

import argparse

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    p.add_argument("ctids", nargs="*", metavar="ID", help="only these containers (default: all)")
    common.add_json(p)


def run(args: argparse.Namespace) -> int:
    from hutch.cli.stats import running_states
    from hutch.config import load
    from hutch.container import beancounters, runrecord
    from hutch.errors import HutchError

    paths = common.paths(args)
    ctids = [common.valid_id(c) for c in args.ctids]
    table = []
    for st in running_states(paths, ctids):
        try:
            saved = load(paths.ct_config(st.ctid), st.ctid)
            # the limits it runs with, live changes included
            cfg = runrecord.read(paths, st, saved) or saved
        except HutchError:  # a broken or vanished config must not hide what the kernel counts
            cfg = None
        table.append((st.ctid, beancounters.read(paths, st, cfg)))
    if args.json:
        common.print_json(beancounters.to_json(table))
    else:
        print(beancounters.format_table(table), end="")
    return 0
