"""hutch set ID --KEY VALUE ... [--save] — every config key has a flag (from the registry)."""

from __future__ import annotations

import argparse

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    from hutch.config import KEYS

    common.add_id(p)
    for key in KEYS:
        p.add_argument(key.option, dest=f"key_{key.attr}", metavar="VALUE", help=key.help)
        if key.add_flag:
            p.add_argument(
                f"--{key.add_flag}",
                dest=f"add_{key.attr}",
                action="append",
                metavar="ITEM",
                help=f"add one item to {key.option} (repeatable)",
            )
        if key.del_flag:
            p.add_argument(
                f"--{key.del_flag}",
                dest=f"del_{key.attr}",
                action="append",
                metavar="ITEM",
                help=f"remove one item of {key.option} ('all': every one)",
            )
    p.add_argument(
        "--save",
        action="store_true",
        help="also write the settings to config.toml (keeping its comments)",
    )
    p.epilog = (
        "Settings apply to the running container at once where the kernel allows, on top of "
        "its earlier live changes (see 'hutch config ID'); --save also keeps the settings "
        "named for the next start, which starts from config.toml.\n"
        "example: hutch set 101 --hostname web1.example.com --save"
    )


def run(args: argparse.Namespace) -> int:
    import sys

    from hutch.config import KEY_BY_NAME, KEYS
    from hutch.errors import UsageError

    ctid = common.valid_id(args.ctid)
    changes, add, remove = {}, {}, {}
    for key in KEYS:
        raw = getattr(args, f"key_{key.attr}")
        if raw is not None:
            changes[key.name] = key.from_cli(raw)
        if getattr(args, f"add_{key.attr}", None):
            add[key.name] = getattr(args, f"add_{key.attr}")
        if getattr(args, f"del_{key.attr}", None):
            remove[key.name] = getattr(args, f"del_{key.attr}")
    if not (changes or add or remove):
        raise UsageError("nothing to set", hint="see 'hutch set --help' for the settings")
    result = _change(args, ctid, changes, add, remove)
    notes = []
    if result.applied:
        notes.append("applied " + ", ".join(KEY_BY_NAME[n].flag for n in result.applied))
    if result.grown:
        notes.append("grew the image")
    if result.saved:
        notes.append("saved")
    print(f"Container {ctid}: " + ", ".join(notes))
    for w in result.warnings:
        print(f"hutch: warning: {w}", file=sys.stderr)
    return 0


def _change(args: argparse.Namespace, ctid: str, changes: dict, add: dict, remove: dict):
    """Through hutchd when it runs (one writer), else here; both under the container's
    lock. -> SetResult"""
    from hutch.api.client import Client
    from hutch.config.schema import rendered
    from hutch.container.live import SetResult, change_settings

    client = Client(common.paths(args), autostart=False)
    if client.ping_ok():
        body = {"changes": rendered(changes), "add": add, "remove": remove, "save": args.save}
        return SetResult.from_dict(client.call("POST", f"/v1/containers/{ctid}/settings", body))
    return change_settings(common.host(args), ctid, changes, args.save, add=add, remove=remove)
