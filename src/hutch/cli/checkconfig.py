"""hutch checkconfig — what this kernel offers containers, probed for real (like
lxc-checkconfig). Exit status 0 when everything hutch needs is there, 1 otherwise."""

from __future__ import annotations

import argparse
import sys

from hutch.cli import common

COLORS = {"enabled": "\033[32m", "missing": "\033[31m", "optional": "\033[33m"}


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_json(p)
    p.epilog = (
        "Each feature is tried (a namespace unshared, a device made in a throwaway "
        "network namespace), not read from a kernel config. 'optional' lists what is "
        "missing and what hutch cannot do without it."
    )


def run(args: argparse.Namespace) -> int:
    checks = common.library_host(args).checkconfig()
    missing = [c for c in checks if c.status == "missing"]
    if args.json:
        common.print_json([c.to_dict() for c in checks])
        return 1 if missing else 0
    color = sys.stdout.isatty()
    section = None
    for c in checks:
        if c.section != section:
            section = c.section
            print(f"{'' if section == checks[0].section else chr(10)}--- {section} ---")
        status = f"{COLORS[c.status]}{c.status}\033[0m" if color else c.status
        detail = f" ({c.detail})" if c.detail else ""
        print(f"{c.name}: {status}{detail}")
    if missing:
        print(
            f"\n{len(missing)} required feature(s) missing: " + ", ".join(c.name for c in missing)
        )
    return 1 if missing else 0
