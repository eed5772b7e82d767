"""`hutch migrate ID HOST [--online]`: move a container to another host running hutch, over ssh.

    transport.py   the ssh connection (one ControlMaster; every remote call reuses it) and
                   rsync through it
    progress.py    progress lines on stderr, timings, and the test-only pause hook
    receive.py     the target's side, run there as `hutch receive ...` (hidden verb)
    protocol.py    the steps: checks, offline (stop, copy, adopt, start) and online (copy
                   while running, checkpoint, final copy, restore), each undone on failure

The rule of every path: until the target runs the container, the source keeps (or gets back)
its container, and the target is left without a half container.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hutch.container.container import register_migrator


def migrate_container(
    host: Any,  # a hutch.container HostContext
    ctid: str,
    target: str,
    *,
    online: bool = False,
    keep_source: bool = False,
    port: int | None = None,
    identity: str | None = None,
    remote_root: str | None = None,
    ssh_options: Sequence[str] = (),
) -> Any:  # -> protocol.Result
    """`Container.migrate()`: the library's migration, quiet (no progress lines)."""
    from hutch.migrate.protocol import Options, migrate

    opts = Options(
        host=target,
        online=online,
        port=port,
        identity=identity,
        ssh_options=list(ssh_options),
        remote_root=remote_root,
        keep_source=keep_source,
        quiet=True,
        local_verbs=("checkpoint",),  # the library checkpoints itself
    )
    return migrate(host, ctid, opts)


register_migrator(migrate_container)
