"""hutch checkpoint ID [--dir D] [--keep-running] | hutch restore ID [--dir D] — through hutchd,
with CRIU (hutch.container.checkpoint)."""

from __future__ import annotations

import argparse

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    p.add_argument(
        "--dir",
        metavar="D",
        help="where the images are (default: the container's own directory, "
        "used up by the restore)",
    )
    if verb == "checkpoint":
        p.add_argument(
            "--keep-running",
            action="store_true",
            help="leave the container running after the dump (a snapshot of its processes, "
            "not of its files: a later restore needs the files they hold open unchanged)",
        )
        p.epilog = (
            "Saves processes, memory, open files, pipes, unix and established TCP sockets, "
            "ttys and the network namespace; PIDs stay the same at restore. Processes started "
            "by 'hutch exec' must have left the exec's session (setsid) to be saved. "
            "example: hutch checkpoint 101 && hutch restore 101"
        )
    else:
        p.epilog = "example: hutch restore 101 --dir /srv/dumps/101"
    common.add_json(p)


def run(args: argparse.Namespace) -> int:
    import os

    ctid = common.valid_id(args.ctid)
    body: dict = {}
    if args.dir:
        body["dir"] = os.path.abspath(args.dir)
    if getattr(args, "keep_running", False):
        body["keep_running"] = True
    if not args.json:
        what = "Checkpointing" if args.verb == "checkpoint" else "Restoring"
        print(f"{what} container {ctid} ...", flush=True)
    result = common.client(args).call("POST", f"/v1/containers/{ctid}/{args.verb}", body)
    if args.json:
        common.print_json(result)
    elif args.verb == "checkpoint":
        state = "still running" if result["kept_running"] else "stopped"
        print(
            f"Container {ctid} checkpointed into {result['dir']} in "
            f"{result['dump_ms']:.0f} ms ({state})"
        )
    else:
        print(
            f"Container {ctid} is running again (init pid {result['pid']}, "
            f"restored in {result['restore_ms']:.0f} ms)"
        )
    return 0
