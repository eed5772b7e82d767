"""hutch clone ID NEWID"""

from __future__ import annotations

import argparse

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    p.add_argument("new_id", metavar="NEWID", help="ID of the new container")
    common.add_json(p)
    p.epilog = (
        "The source must be stopped. The clone gets its own copy of the data (overlay: of "
        "its upper layer; the template layer stays shared), its ID as host name and MACs "
        "derived from its ID; venet addresses are not copied.\n"
        "example: hutch clone 101 102"
    )


def run(args: argparse.Namespace) -> int:
    ctid = common.valid_id(args.ctid)
    new_id = common.valid_id(args.new_id)
    cfg = common.library_host(args).get(ctid).clone(new_id).config
    if args.json:
        common.print_json(cfg.to_dict())
    else:
        print(f"Container {new_id} cloned from {ctid} ({cfg.storage_backend} backend)")
    return 0
