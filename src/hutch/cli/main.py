"""`hutch VERB ...`: find the verb, import only its module, run it, map errors to exit codes.

Only the verb's own module is imported, so `hutch exec` and `hutch list` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# verb -> (module, one-line summary); the order is the order of `hutch --help`
VERBS: dict[str, tuple[str, str]] = {
    "create": ("create", "create a container from an OS template"),
    "start": ("lifecycle", "start a container"),
    "stop": ("lifecycle", "stop a container (cleanly through its init, then kill)"),
    "restart": ("lifecycle", "stop and start a container"),
    "freeze": ("lifecycle", "freeze every process of a container (status FROZEN)"),
    "unfreeze": ("lifecycle", "resume a frozen container"),
    "checkpoint": ("checkpoint", "save a running container to disk with CRIU (vzctl chkpnt)"),
    "restore": ("checkpoint", "bring a checkpointed container back to life (vzctl restore)"),
    "destroy": ("destroy", "remove a stopped container and its files"),
    "clone": ("clone", "copy a stopped container into a new, independent one"),
    "snapshot": ("snapshot", "create, list, restore and delete snapshots of a container's disk"),
    "quota": ("quota", "show disk space and inodes used against the container's quota"),
    "status": ("status", "show whether a container exists and runs"),
    "list": ("listing", "list containers (vzlist layout)"),
    "stats": ("stats", "show CPU, memory, tasks and block IO of running containers"),
    "beancounters": ("beancounters", "show resource usage and limits (OpenVZ user_beancounters)"),
    "exec": ("execute", "run a command inside a running container"),
    "enter": ("execute", "open a shell inside a running container"),
    "console": ("console", "attach to a container's console (Ctrl-a q detaches)"),
    "set": ("setting", "change a container's settings, live; --save keeps them"),
    "config": ("showconfig", "show a container's effective configuration"),
    "template": ("template", "list, import and remove OS templates (the template cache)"),
    "checkconfig": ("checkconfig", "check the kernel features containers need"),
    "migrate": ("migrate", "move a container to another hutch host over ssh (--online: live)"),
    "receive": ("migrate", "the target side of 'hutch migrate' (run by it over ssh)"),
}
ALIASES = {"ls": "list", "rm": "destroy", "attach": "exec"}

EPILOG = """\
examples:
  hutch create 101 --template busybox --hostname ct101.example
  hutch start 101
  hutch exec 101 ps                  # or: hutch exec 101 -- sh -c 'echo $$'
  hutch enter 101                    # interactive shell, like vzctl enter
  hutch set 101 --hostname web1 --save
  hutch list -a
  hutch stop 101 && hutch destroy 101

Each verb has its own --help. --root DIR (or HUTCH_ROOT) runs a separate hutch "host"
with its own containers, daemon and cgroups.
"""


def _top_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hutch",
        description="hutch: system containers for Linux (OpenVZ-style verbs, mainline kernel).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--root", metavar="DIR", help="hutch root directory (default: /)")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_mod, summary) in VERBS.items():
        sub.add_parser(verb, help=summary)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    root = None
    # global options come before the verb
    while argv and argv[0].startswith("--root"):
        opt = argv.pop(0)
        if "=" in opt:
            root = opt.split("=", 1)[1]
        elif argv:
            root = argv.pop(0)
        else:
            return _fail("--root needs a directory", 2)
    if not argv or argv[0] in ("-h", "--help", "help"):
        _top_parser().print_help()
        return 0 if argv else 2
    if argv[0] == "--version":
        from hutch import __version__

        print(f"hutch {__version__}")
        return 0
    verb = ALIASES.get(argv[0], argv[0])
    if verb not in VERBS:
        return _fail(f"unknown verb {argv[0]!r} (see 'hutch --help')", 2)
    module = importlib.import_module(f"hutch.cli.{VERBS[verb][0]}")
    parser = argparse.ArgumentParser(
        prog=f"hutch {verb}",
        description=VERBS[verb][1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser, verb)
    args = parser.parse_args(argv[1:])
    args.verb = verb
    args.root = root

    from hutch.errors import HutchError

    try:
        return int(module.run(args) or 0)
    except HutchError as e:
        return _fail(str(e), e.exit_code)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `hutch list | head`: the reader left; say nothing more (not even at exit's flush)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except PermissionError as e:
        if os.geteuid() != 0:
            return _fail(f"{e.strerror}: {e.filename or ''} (hutch needs root)", 1)
        raise


def _fail(message: str, code: int) -> int:
    print(f"hutch: {message}", file=sys.stderr)
    return code
