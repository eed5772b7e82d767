"""hutch console ID — attach to the container's console; Ctrl-a q detaches."""

from __future__ import annotations

import argparse
import sys

from hutch.cli import common


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    p.epilog = (
        "hutchd keeps every console (and its log in /var/log/hutch/ID/console.log); "
        "detaching leaves the container running. Ctrl-a Ctrl-a sends a Ctrl-a."
    )


def run(args: argparse.Namespace) -> int:
    from hutch.container.ttyrelay import relay_console

    ctid = common.valid_id(args.ctid)
    sock, first = common.client(args).upgrade(f"/v1/containers/{ctid}/console", "hutch-console")
    print(
        f"Attached to the console of container {ctid}; type Ctrl-a q to detach.",
        file=sys.stderr,
        flush=True,
    )
    try:
        how = relay_console(sock, first)
    finally:
        sock.close()
    print(
        f"\r\n{'Detached from' if how == 'detached' else 'Lost'} the console of {ctid}.",
        file=sys.stderr,
    )
    return 0
