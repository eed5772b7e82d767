"""hutch start|stop|restart ID — through hutchd, which supervises running containers."""

from __future__ import annotations

import argparse

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    if verb in ("stop", "restart"):
        p.add_argument(
            "--timeout",
            "-t",
            type=float,
            metavar="S",
            help="seconds to wait for a clean shutdown before killing "
            "(default: the container's stop_timeout, 60)",
        )
    if verb == "stop":
        p.add_argument(
            "--kill",
            action="store_true",
            help="kill at once (SIGKILL to the init), no clean shutdown",
        )
        p.epilog = (
            "The container's init is asked to power off the way it expects "
            "(busybox: SIGUSR2, systemd: SIGRTMIN+4, sysvinit: SIGPWR; config key "
            "stop_signal overrides); after the timeout it is killed."
        )
    common.add_json(p)


def run(args: argparse.Namespace) -> int:
    ctid = common.valid_id(args.ctid)
    body = {}
    if getattr(args, "timeout", None) is not None:
        body["timeout"] = args.timeout
    if getattr(args, "kill", False):
        body["kill"] = True
    verb_ing = {
        "start": "Starting",
        "stop": "Stopping",
        "restart": "Restarting",
        "freeze": "Freezing",
        "unfreeze": "Unfreezing",
    }[args.verb]
    if not args.json:
        print(f"{verb_ing} container {ctid} ...", flush=True)
    result = common.client(args).call("POST", f"/v1/containers/{ctid}/{args.verb}", body)
    if args.json:
        common.print_json(result)
    elif args.verb in ("freeze", "unfreeze"):
        print(f"Container {ctid} is {result['status']}")
    elif args.verb == "stop":
        how = "" if result.get("shutdown") == "clean" else " (killed)"
        print(f"Container {ctid} was stopped{how}")
    else:
        print(f"Container {ctid} is running (init pid {result['pid']})")
    if not args.json:
        import sys

        for w in result.get("warnings", []) if isinstance(result, dict) else []:
            print(f"hutch: warning: {w}", file=sys.stderr)
    return 0
