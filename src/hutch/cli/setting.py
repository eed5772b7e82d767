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
        "Settings apply to the running container at once where the kernel allows; "
        "--save keeps them for the next start.\n"
        "example: hutch set 101 --hostname web1.example.com --save"
    )


def run(args: argparse.Namespace) -> int:
    from hutch.config import KEY_BY_NAME, KEYS
    from hutch.container import lifecycle
    from hutch.container.live import apply_settings
    from hutch.errors import UsageError

    ctid = common.valid_id(args.ctid)
    h = common.host(args)
    cfg = lifecycle.require(h, ctid)
    changes = {}
    for key in KEYS:
        raw = getattr(args, f"key_{key.attr}")
        if raw is not None:
            changes[key.name] = key.from_cli(raw)
        adds = getattr(args, f"add_{key.attr}", None) or []
        dels = getattr(args, f"del_{key.attr}", None) or []
        if adds or dels:
            items = list(changes.get(key.name, cfg.get(key.name)) or ())
            for item in dels:
                kept = [i for i in items if not _names(i, item)] if item != "all" else []
                if len(kept) == len(items) and item != "all":
                    raise UsageError(f"--{key.del_flag} {item}: no such item in {key.option}")
                items = kept
            for item in adds:
                for new in key.from_cli(item):
                    if any(_same(new, old) for old in items):
                        raise UsageError(f"--{key.add_flag} {item}: already there")
                    items.append(new)
            try:
                changes[key.name] = key.check(items)  # the whole list, checked as in a file
            except ValueError as e:
                raise UsageError(f"{key.option}: {e}") from None
    from hutch.config.schema import FIXED_AT_CREATE

    for name in FIXED_AT_CREATE:
        if name in changes and changes[name] != cfg.get(name):
            raise UsageError(
                f"{KEY_BY_NAME[name].option}: chosen at create (the rootfs's owners follow it)",
                hint="create a new container with it",
            )
    if not changes:
        raise UsageError("nothing to set", hint="see 'hutch set --help' for the settings")
    done = apply_settings(h, cfg, changes, args.save)
    import sys

    notes = [d for d in done if not d.startswith("warning: ")]
    print(f"Container {ctid}: " + ", ".join(notes))
    for w in done:
        if w.startswith("warning: "):
            print(f"hutch: {w}", file=sys.stderr)
    return 0


def _names(item: str, token: str) -> bool:
    """Does a --*_del token name this list item? An address, an interface (its ifname=), a
    host NIC, or a forward (whole, or PROTO:HOSTPORT)."""
    if item == token:
        return True
    if item.startswith(f"ifname={token},") or item == f"ifname={token}":
        return True
    return item.startswith(f"{token}:")


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    if a.startswith("ifname="):
        return a.split(",")[0] == b.split(",")[0]
    return False
