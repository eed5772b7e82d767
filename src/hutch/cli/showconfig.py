"""hutch config ID [--saved] [--json] — the effective configuration, defaults filled in.

A running container shows what it runs with (its settings record), each setting that differs
from config.toml marked `# live, saved: VALUE`; --saved shows the file."""

from __future__ import annotations

import argparse
import json

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    p.add_argument(
        "--saved",
        action="store_true",
        help="show config.toml, what the next start uses (not what a running container runs with)",
    )
    common.add_json(p)
    p.epilog = (
        '--json: every setting by name, plus "unsaved": the names of those a running '
        "container runs with a value config.toml does not have"
    )


def run(args: argparse.Namespace) -> int:
    from hutch.container import lifecycle
    from hutch.container.live import effective_config

    h = common.host(args)
    ctid = common.valid_id(args.ctid)
    saved = lifecycle.require(h, ctid)
    cfg = saved if args.saved else effective_config(h, ctid)
    before = saved.values()
    unsaved = [name for name, value in cfg.values().items() if value != before[name]]
    data = cfg.to_dict()
    if args.json:
        common.print_json({**data, "unsaved": unsaved} if not args.saved else data)
        return 0
    what = "saved" if args.saved else "effective"
    print(f"# {what} configuration of container {ctid} (file: {h.paths.ct_config(ctid)})")
    if unsaved:
        print(
            f"# running with {len(unsaved)} unsaved setting(s), marked '# live': "
            "a restart goes back to the saved values, 'hutch set ... --save' keeps them"
        )
    was = saved.to_dict()
    for k, v in data.items():
        if k == "ctid":
            continue
        mark = f"  # live, saved: {json.dumps(was[k])}" if k in unsaved else ""
        print(f"{k} = {json.dumps(v)}{mark}")
    return 0
