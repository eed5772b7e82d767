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
    from hutch.container.results import Status

    ctid = common.valid_id(args.ctid)
    ct = common.library_host(args).get(ctid)
    if args.force and ct.status is not Status.STOPPED:
        # through hutchd, as `hutch stop --kill`: the one that tracks it
        common.client(args).call("POST", f"/v1/containers/{ctid}/stop", {"kill": True})
    ct.destroy()
    print(f"Container {ctid} destroyed")
    return 0
