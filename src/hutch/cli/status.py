"""hutch status ID — like `vzctl status`: exists, running or stopped."""

from __future__ import annotations

import argparse

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    common.add_json(p)


def run(args: argparse.Namespace) -> int:
    from hutch.container.info import describe

    ctid = common.valid_id(args.ctid)
    # the plain line needs no config; --json shows everything
    info = describe(
        common.paths(args),
        ctid,
        require=True,
        columns=() if args.json else ("ctid", "status", "pid", "idmap"),
    )
    if args.json:
        common.print_json(info)
    else:
        extra = f" pid {info['pid']}" if info.get("pid") else ""
        if info.get("idmap") == "privileged":
            extra += " privileged"
        print(f"CTID {ctid} exist {info['status']}{extra}")
    return 0
