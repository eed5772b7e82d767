"""hutch create ID [--template T] [--hostname H] [--config FILE]"""

from __future__ import annotations

import argparse
from pathlib import Path

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    p.epilog = "example: hutch create 101 --template busybox --hostname ct101.example"
    common.add_id(p)
    p.add_argument(
        "--template",
        "--ostemplate",
        metavar="T",
        help="OS template to create from (default: busybox, built from the host's busybox-static)",
    )
    p.add_argument("--hostname", metavar="H", help="host name (default: the container ID)")
    p.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="a config.toml to start from (validated; flags override it)",
    )
    common.add_json(p)


def run(args: argparse.Namespace) -> int:
    from hutch.config import KEY_BY_NAME
    from hutch.container import lifecycle

    hostname = KEY_BY_NAME["hostname"].from_cli(args.hostname) if args.hostname else None
    cfg = lifecycle.create(
        common.host(args), common.valid_id(args.ctid), args.template, hostname, args.config
    )
    if args.json:
        common.print_json(cfg.to_dict())
    else:
        print(f"Container {cfg.ctid} created from template {cfg.template}")
    return 0
