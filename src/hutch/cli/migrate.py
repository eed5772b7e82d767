"""hutch migrate ID HOST [--online] [--ssh-option O] [--identity FILE] [--port N] [--keep-source]

Also the hidden verb `hutch receive ACTION ID`: the target's side, run there over ssh by
`hutch migrate` (see hutch.migrate.receive).
"""

from __future__ import annotations

import argparse
import json
import sys

from hutch.cli import common

RECEIVE_ACTIONS = ("hello", "prepare", "template", "adopt", "daemon", "start", "commit", "abort")


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    if verb == "receive":
        p.add_argument("action", choices=RECEIVE_ACTIONS)
        p.add_argument("name", metavar="ID", help="container ID (template: its name)")
        p.add_argument("--keep-base", action="store_true", help="refuse another ID block")
        p.add_argument("--daemon-pid", type=int, default=0, help="hutchd seen at hello")
        p.epilog = "Run by 'hutch migrate' on the target over ssh; not for people."
        return
    common.add_id(p)
    p.add_argument("target", metavar="HOST", help="ssh destination: host or user@host")
    p.add_argument(
        "--online",
        action="store_true",
        help="live: copy while it runs, checkpoint, restore there (same PIDs, connections)",
    )
    p.add_argument(
        "--ssh-option",
        "-o",
        action="append",
        default=[],
        metavar="OPT",
        help="an ssh -o option (repeatable), e.g. -o UserKnownHostsFile=/path",
    )
    p.add_argument("--identity", "-i", metavar="FILE", help="ssh private key")
    p.add_argument("--port", "-p", type=int, metavar="N", help="ssh port of the target")
    p.add_argument(
        "--remote-root",
        metavar="DIR",
        help="the target's hutch root (default: its HUTCH_ROOT, else /)",
    )
    p.add_argument(
        "--keep-source",
        action="store_true",
        help="keep the (stopped) container here after it runs there",
    )
    common.add_json(p)
    p.epilog = (
        "Offline: stop here, copy config and data (rsync over ssh), create and start it on "
        "HOST, destroy here. --online: copy while running, then freeze, dump, final copy, "
        "restore on HOST; the downtime is printed. On any failure the container keeps "
        "running here and HOST is left without it. Progress goes to stderr.\n"
        "example: hutch migrate 101 root@node2 --online"
    )


def run(args: argparse.Namespace) -> int:
    if args.verb == "receive":
        return _receive(args)
    from hutch.cli.main import VERBS
    from hutch.migrate.protocol import Options, migrate

    ctid = common.valid_id(args.ctid)
    opts = Options(
        host=args.target,
        online=args.online,
        port=args.port,
        identity=args.identity,
        ssh_options=list(args.ssh_option),
        remote_root=args.remote_root,
        keep_source=args.keep_source,
        local_verbs=tuple(VERBS),
    )
    result = migrate(common.library_host(args), ctid, opts)
    if args.json:
        common.print_json(result.to_dict())
        return 0
    down = f", downtime {result.downtime:.2f}s" if result.downtime is not None else ""
    print(
        f"Container {ctid} migrated to {result.host} ({result.mode}){down}, "
        f"total {result.total:.2f}s"
    )
    for note in result.notes:
        print(f"hutch: note: {note}", file=sys.stderr)
    return 0


def _receive(args: argparse.Namespace) -> int:
    from hutch.migrate import receive

    h = common.library_host(args)
    name = args.name
    if args.action != "template":
        name = common.valid_id(name)
    out: dict[str, object]
    if args.action == "hello":
        from hutch.cli.main import VERBS

        out = receive.hello(h, name, list(VERBS))
    elif args.action == "prepare":
        out = receive.prepare(h, name)
    elif args.action == "template":
        out = receive.template(h, name)
    elif args.action == "adopt":
        out = receive.adopt(h, name, keep_base=args.keep_base)
    elif args.action == "daemon":
        out = receive.daemon(h, name, args.daemon_pid or None)
    elif args.action == "start":
        out = receive.start(h, name, args.daemon_pid or None)
    elif args.action == "commit":
        out = receive.commit(h, name)
    else:
        out = receive.abort(h, name)
    print(json.dumps(out, sort_keys=True))
    return 0
