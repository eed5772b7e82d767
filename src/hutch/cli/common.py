"""Helpers shared by the verbs: the host context, the daemon client, output."""

from __future__ import annotations

import argparse
import json
import sys

from hutch.paths import Paths

# typing costs the CLI ~9 ms to import; type checkers still read this block
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def paths(args: argparse.Namespace) -> Paths:
    return Paths.from_env(args.root)


def host(args: argparse.Namespace):  # -> HostContext (lazily: cgroups are not always needed)
    """What the container modules take; ~15 ms to import where hutch.Host takes ~60."""
    from hutch.container.context import HostContext

    return HostContext(paths(args))


def library_host(args: argparse.Namespace):  # -> hutch.Host (the library: imported lazily)
    from hutch.container.host import Host

    return Host(paths=paths(args))


def client(args: argparse.Namespace):
    from hutch.api.client import Client

    return Client(paths(args))


def add_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("ctid", metavar="ID", help="container ID: a number (101) or a name (web-1)")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def valid_id(ctid: str) -> str:
    from hutch.container.ctid import valid_id

    return valid_id(ctid)
