"""hutch exec ID [-t] -- CMD...   and   hutch enter ID

Both go straight to the kernel (setns into the container), not through hutchd.
"""

from __future__ import annotations

import argparse
import os

from hutch.cli import common

SHELL_CHARS = set(" \t\n|&;<>()$`\\\"'*?[]#~=%")


def add_arguments(p: argparse.ArgumentParser, verb: str) -> None:
    common.add_id(p)
    if verb == "exec":
        p.add_argument(
            "-t",
            "--tty",
            action="store_true",
            help="allocate a terminal inside the container (for interactive programs)",
        )
        p.add_argument(
            "-e",
            "--env",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="extra environment variable (repeatable)",
        )
        p.add_argument("--cwd", default="/", help="working directory inside (default /)")
        p.add_argument(
            "command",
            nargs=argparse.REMAINDER,
            help="the command; a single argument with shell syntax runs under "
            "/bin/sh -c, as with vzctl exec",
        )
        p.epilog = (
            "examples:\n  hutch exec 101 ps\n  hutch exec 101 -- ls -l /etc\n"
            "  hutch exec 101 'ps ax | grep init'\n"
            "The exit status of the command is hutch's exit status."
        )
    else:
        p.add_argument(
            "--shell", help="shell to start (default: /bin/bash if present, else /bin/sh)"
        )
        p.epilog = "Leave the shell with 'exit' or Ctrl-d, as with vzctl enter."


def run(args: argparse.Namespace) -> int:
    from hutch.container import attach
    from hutch.errors import UsageError

    ctid = common.valid_id(args.ctid)
    paths = common.paths(args)
    if args.verb == "enter":
        st = attach.require_running(paths, ctid)
        shell = args.shell or attach.default_shell(st.pid)
        env = attach.exec_env(os.environ.get("TERM", "xterm"))
        env["SHELL"] = shell
        return attach.run(
            paths, ctid, [shell, "-l"], tty=True, env=env, cwd="/root", cwd_fallback="/"
        )
    cmd = _options_after_id(args, list(args.command))
    if not cmd:
        raise UsageError("exec needs a command", hint=f"hutch exec {ctid} -- ps")
    if len(cmd) == 1 and SHELL_CHARS & set(cmd[0]):
        cmd = ["/bin/sh", "-c", cmd[0]]
    for item in args.env:
        if "=" not in item:
            raise UsageError(f"--env {item!r}: expected KEY=VALUE")
    env = attach.exec_env(os.environ.get("TERM") if args.tty else None, args.env)
    return attach.run(paths, ctid, cmd, tty=args.tty, env=env, cwd=args.cwd)


def _options_after_id(args: argparse.Namespace, cmd: list[str]) -> list[str]:
    """Take exec's own options from the front of the command, as the usage line promises
    (`hutch exec ID -t -- CMD`); the command starts at `--` or at the first other word."""
    while cmd:
        opt, eq, value = cmd[0].partition("=")
        if cmd[0] == "--":
            return cmd[1:]
        if cmd[0] in ("-t", "--tty"):
            args.tty = True
            cmd = cmd[1:]
        elif opt in ("-e", "--env", "--cwd") and (eq or len(cmd) > 1):
            if not eq:
                value, cmd = cmd[1], cmd[1:]
            if opt == "--cwd":
                args.cwd = value
            else:
                args.env = [*args.env, value]
            cmd = cmd[1:]
        else:
            break
    return cmd
