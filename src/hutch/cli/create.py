"""hutch create ID [--template T] [--hostname H] [--config FILE] [--backend dir|overlay|image]
[--diskspace SOFT:HARD] [--diskinodes SOFT:HARD]"""

from __future__ import annotations

import argparse
from pathlib import Path

from hutch.cli import common
from hutch.config import KEY_BY_NAME

STORAGE_KEYS = ("storage.backend", "storage.diskspace", "storage.diskinodes")


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
    for name in STORAGE_KEYS:
        key = KEY_BY_NAME[name]
        p.add_argument(key.option, dest=key.attr, metavar="VALUE", help=key.help)
    p.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="a config.toml to start from (validated; flags override it)",
    )
    common.add_json(p)


def run(args: argparse.Namespace) -> int:
    from hutch.container import lifecycle

    hostname = KEY_BY_NAME["hostname"].from_cli(args.hostname) if args.hostname else None
    settings = {
        name: KEY_BY_NAME[name].from_cli(getattr(args, KEY_BY_NAME[name].attr))
        for name in STORAGE_KEYS
        if getattr(args, KEY_BY_NAME[name].attr) is not None
    }
    cfg = lifecycle.create(
        common.host(args),
        common.valid_id(args.ctid),
        args.template,
        hostname,
        args.config,
        settings,
    )
    if args.json:
        common.print_json(cfg.to_dict())
    else:
        print(
            f"Container {cfg.ctid} created from template {cfg.template} "
            f"({cfg.storage_backend} backend)"
        )
    return 0
