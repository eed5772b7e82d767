"""hutch set ID --KEY VALUE ... [--save] — every config key has a flag (from the registry)."""

from __future__ import annotations

import argparse

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    from hutch.config import KEYS

    common.add_id(p)
    for key in KEYS:
        p.add_argument(key.option, dest=f"key_{key.attr}", metavar="VALUE", help=key.help)
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
    from hutch.config import KEYS
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
