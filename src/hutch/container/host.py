"""`Host`: one hutch host (a root directory, default /) and its containers: the library's
front door. `hutch.Host(root=None)`; `Host(paths=Paths(...))` for a `Paths` at hand.

    host = hutch.Host()
    ct = host.create("101", template="busybox", memory="256M")
    ct.start()
    print(ct.exec(["uname", "-r"]).stdout)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hutch.cgroups.base import CgroupDriver
from hutch.container import lifecycle
from hutch.container.container import Container, keyword_changes
from hutch.container.context import HostContext
from hutch.container.ctid import valid_id
from hutch.container.results import Stats
from hutch.errors import NotFound, UsageError
from hutch.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.host.features import Check
    from hutch.storage.cache import TemplateInfo


class Host(HostContext):
    """The containers under one hutch root. `root`: default $HUTCH_ROOT, else /."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        paths: Paths | None = None,
        cgroups: CgroupDriver | None = None,
    ) -> None:
        if paths is not None and root is not None:
            raise UsageError("Host takes a root or paths, not both")
        super().__init__(paths or Paths.from_env(None if root is None else str(root)), cgroups)

    @property
    def root(self) -> Path:
        return self.paths.root

    def create(
        self,
        ctid: str,
        template: str | None = None,
        backend: str | None = None,
        *,
        config_file: str | os.PathLike[str] | None = None,
        **settings: object,
    ) -> Container:
        """A new container from `template` (default: busybox) on `backend` (dir, overlay,
        image), with more settings by keyword as `Container.set` takes them
        (`hostname="web1"`, `memory="256M"`, `privileged=True`)."""
        values, add, _ = keyword_changes(settings)
        if add:  # a new container has no list to add to: give the whole list
            word = next(iter(add))
            raise UsageError(f"{word}: give the whole list at create", hint="e.g. ip_address=[...]")
        if backend is not None:
            values["storage.backend"] = keyword_changes({"backend": backend})[0]["storage.backend"]
        hostname = values.pop("hostname", None)
        lifecycle.create(
            self,
            valid_id(ctid),
            template,
            hostname,
            Path(config_file) if config_file is not None else None,
            values,
        )
        return Container(self, ctid)

    def containers(self) -> list[Container]:
        """Every container of this host, numbers first (in order), then names."""
        return [Container(self, c) for c in lifecycle.list_ids(self)]

    def get(self, ctid: str) -> Container:
        """The container `ctid`; `NotFound` if there is none."""
        valid_id(ctid)
        if not lifecycle.exists(self, ctid):
            raise NotFound(f"container {ctid} does not exist", hint="see 'hutch list -a'")
        return Container(self, ctid)

    @property
    def templates(self) -> list[TemplateInfo]:
        """The OS templates containers are created from (built-in busybox, the cache)."""
        from hutch.storage import cache

        return cache.list_templates(self.paths)

    def checkconfig(self) -> list[Check]:
        """What this kernel offers containers, each feature probed for real."""
        from hutch.container.checkconfig import check_all

        return check_all()

    def stats(self, ctids: Sequence[str] = (), sample: float = 0.5) -> list[Stats]:
        """What running containers use now (these, or every running one), CPU% measured
        over `sample` seconds with one sleep for all (0: not measured)."""
        from hutch.container import stats

        states = stats.running_states(self.paths, [valid_id(c) for c in ctids])
        return [Stats.from_row(r) for r in stats.rows(states, sample)]
