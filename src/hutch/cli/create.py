"""hutch create ID [--template T] [--hostname H] [--config FILE] [--backend dir|overlay|image]
[--diskspace SOFT:HARD] [--diskinodes SOFT:HARD] [--privileged | --idmap shared|isolated]"""

from __future__ import annotations

import argparse
from pathlib import Path

from hutch.cli import common
from hutch.config import KEY_BY_NAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.config import ContainerConfig

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
        "--privileged",
        action="store_true",
        default=None,
        help="IDs not shifted: the container's root is the host's uid 0 and its files keep "
        "the host's IDs (its capabilities stay its own user namespace's). Off by default: "
        "an unprivileged container's root is an ordinary host user (see --idmap)",
    )
    idmap = KEY_BY_NAME["security.idmap"]
    p.add_argument(idmap.option, dest=idmap.attr, metavar="MODE", help=idmap.help)
    p.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="a config.toml to start from (validated; flags override it)",
    )
    common.add_json(p)


def run(args: argparse.Namespace) -> int:
    from hutch.errors import UsageError

    # as typed: the library parses each as `hutch set` would (errors name the flag)
    settings: dict[str, object] = {
        KEY_BY_NAME[name].attr: getattr(args, KEY_BY_NAME[name].attr)
        for name in ("hostname", *STORAGE_KEYS)
        if getattr(args, KEY_BY_NAME[name].attr) is not None
    }
    if args.privileged:
        settings["security_privileged"] = True
    if args.security_idmap is not None:
        if args.privileged:
            raise UsageError("--idmap maps the IDs of an unprivileged container, not --privileged")
        settings["security_idmap"] = args.security_idmap
    ct = common.library_host(args).create(
        common.valid_id(args.ctid), args.template, config_file=args.config, **settings
    )
    cfg = ct.config
    if args.json:
        common.print_json(cfg.to_dict())
    else:
        print(
            f"Container {cfg.ctid} created from template {cfg.template} "
            f"({cfg.storage_backend} backend, {_privilege(cfg)})"
        )
    return 0


def _privilege(cfg: ContainerConfig) -> str:
    idmap = cfg.idmap
    if idmap is None:
        return "privileged"
    return f"unprivileged, root is host uid {idmap.base}"
