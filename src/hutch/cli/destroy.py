"""hutch destroy ID [--force]"""

from __future__ import annotations

import argparse

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    p.add_argument(
        "--force",
        "-f",
        action="store_true",
        help="stop the container first (killing it) if it runs",
    )


def run(args: argparse.Namespace) -> int:
    from hutch.container import lifecycle
    from hutch.container.state import running_state

    ctid = common.valid_id(args.ctid)
    h = common.host(args)
    lifecycle.require(h, ctid)
    if args.force and running_state(h.paths, ctid) is not None:
        common.client(args).call("POST", f"/v1/containers/{ctid}/stop", {"kill": True})
    lifecycle.destroy(h, ctid)
    print(f"Container {ctid} destroyed")
    return 0
