"""hutch quota ID — disk space and inodes used, with the soft and hard limits"""

from __future__ import annotations

import argparse

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    common.add_json(p)
    p.epilog = "example: hutch quota 101   (sizes in 1K blocks, as vzquota shows them)"


def run(args: argparse.Namespace) -> int:
    u = common.library_host(args).get(common.valid_id(args.ctid)).quota()
    if args.json:
        common.print_json(u.to_dict())
        return 0
    print(f"{'resource':<10} {'usage':>12} {'softlimit':>12} {'hardlimit':>12}")
    print(
        f"{'1k-blocks':<10} {u.used_bytes // 1024:>12} {_cell(u.soft_bytes, 1024):>12} "
        f"{_cell(u.hard_bytes, 1024):>12}"
    )
    print(
        f"{'inodes':<10} {u.used_inodes:>12} {_cell(u.soft_inodes):>12} {_cell(u.hard_inodes):>12}"
    )
    if not u.quota:
        print(f"note: the {u.backend} backend has no disk quota: usage is measured only")
    return 0


def _cell(value: int | None, unit: int = 1) -> str:
    return "-" if value is None else str(value // unit)
