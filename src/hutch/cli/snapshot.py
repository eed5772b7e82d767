"""hutch snapshot ID create|list|restore|delete [NAME]"""

from __future__ import annotations

import argparse

from hutch.cli import common

ACTIONS = ("create", "list", "restore", "delete")


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    p.add_argument("action", choices=ACTIONS, help="what to do")
    p.add_argument("name", nargs="?", metavar="NAME", help="snapshot name (not for list)")
    common.add_json(p)
    p.epilog = (
        "A snapshot is a full copy of the container's data (dir: rootfs, overlay: upper "
        "layer, image: the image file, sparse) in its directory's snapshots/NAME. restore "
        "needs the container stopped and swaps the copy in atomically.\n"
        "example: hutch snapshot 101 create before-upgrade"
    )


def run(args: argparse.Namespace) -> int:
    import time

    from hutch.errors import UsageError

    ctid = common.valid_id(args.ctid)
    snapshots = common.library_host(args).get(ctid).snapshots
    if args.action == "list":
        snaps = snapshots.list()
        if args.json:
            common.print_json([s.to_dict() for s in snaps])
            return 0
        from hutch.cli.stats import human_size

        print(f"{'NAME':<24} {'CREATED':<19} {'SIZE':>8}")
        for s in snaps:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created))
            print(f"{s.name:<24} {when:<19} {human_size(s.size):>8}")
        return 0
    if not args.name:
        raise UsageError(f"snapshot {args.action} needs a NAME")
    if args.action == "create":
        snap = snapshots.create(args.name)
        print(f"Snapshot {snap.name} of container {ctid} created")
    elif args.action == "restore":
        snapshots.restore(args.name)
        print(f"Container {ctid} restored from snapshot {args.name}")
    else:
        snapshots.delete(args.name)
        print(f"Snapshot {args.name} of container {ctid} deleted")
    return 0
