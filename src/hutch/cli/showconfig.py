"""hutch config ID [--json] — the effective configuration, defaults filled in."""

from __future__ import annotations

import argparse
import json

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    common.add_json(p)


def run(args: argparse.Namespace) -> int:
    from hutch.container import lifecycle

    cfg = lifecycle.require(common.host(args), common.valid_id(args.ctid))
    data = cfg.to_dict()
    if args.json:
        common.print_json(data)
        return 0
    print(
        f"# effective configuration of container {cfg.ctid} "
        f"(file: {common.paths(args).ct_config(cfg.ctid)})"
    )
    for k, v in data.items():
        if k == "ctid":
            continue
        print(f"{k} = {json.dumps(v)}")
    return 0
