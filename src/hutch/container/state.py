"""Runtime state of a running container, kept in /run so it vanishes with a host reboot.

The state file records what the kernel cannot tell us directly: which process is the
container's init (pid plus its start time, so a recycled pid is never mistaken for it) and
where its cgroups are. Everything else (is it alive, how many processes) is read from the
kernel each time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hutch.cgroups.base import Cgroup
from hutch.errors import StateConflict
from hutch.paths import Paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.network.spec import NetRecord


def proc_starttime(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None if there is no such pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] == b"Z":  # a zombie init is a stopped container waiting to be reaped
        return None
    return int(fields[19])


class RunState:
    """What /run/hutch/containers/ID.json holds (a plain class: the CLI reads it on every
    exec and list, and dataclasses cost ~20 ms of import)."""

    FIELDS = (
        "ctid",
        "pid",
        "starttime",
        "started_at",
        "cgroup",
        "console",
        "init",
        "stop_signal",
        "net",
        "hostname",
        "ips",
        "security",
        "idmap_base",
        "idmap",
    )

    def __init__(
        self,
        ctid: str,
        pid: int,
        starttime: int,
        started_at: float,
        cgroup: list[list[str]] | None = None,
        console: bool = False,
        init: str = "",
        stop_signal: int = 0,
        net: NetRecord | dict | None = None,
        hostname: str = "",
        ips: list[str] | None = None,
        security: dict | None = None,
        idmap_base: int | None = None,
        idmap: str = "privileged",
    ) -> None:
        self.ctid = ctid
        self.pid = pid
        self.starttime = starttime
        self.started_at = started_at
        self.cgroup = cgroup or []
        self.console = console
        self.init = init
        self.stop_signal = stop_signal
        # what network teardown needs (hutch.network.spec.NetRecord); the file's JSON until
        # first read, so exec and list, which never read it, never import the type
        self._net: NetRecord | dict = net or {}
        # what `list` shows of a running container, so it need not parse config.toml
        self.hostname = hostname
        self.ips = ips or []
        # the capabilities and seccomp filter of the init, which `exec` applies too
        # (hutch.container.confinement.record_of); empty for a container started before them
        self.security = security or {}
        # the host uid/gid of the container's root in its user namespace (0: privileged, an
        # identity map); None: no user namespace (a privileged container started by a hutch
        # before they had one), which `exec` joins without one
        self.idmap_base = idmap_base
        self.idmap = idmap  # shared, isolated or privileged: what `list` shows

    @property
    def net(self) -> NetRecord:
        from hutch.network.spec import NetRecord

        if not isinstance(self._net, NetRecord):
            self._net = NetRecord.from_json(self._net)
        return self._net

    @net.setter
    def net(self, record: NetRecord) -> None:
        self._net = record

    def to_dict(self) -> dict:
        net = self._net if isinstance(self._net, dict) else self._net.to_json()
        return {name: net if name == "net" else getattr(self, name) for name in self.FIELDS}

    def alive(self) -> bool:
        """Its init runs: the recorded pid, born at the recorded time, in its cgroup (a state
        file naming some other process, the host's init say, is no container of ours)."""
        return proc_starttime(self.pid) == self.starttime and self._in_own_cgroup()

    def _in_own_cgroup(self) -> bool:
        if not self.cgroup:
            return True  # a record without groups (from before they were kept): trust it
        # the container's top group, as /proc/PID/cgroup shows it: /<subtree>/<ctid>[/...]
        mark = "/" + "/".join(Path(self.cgroup[0][1]).parts[-2:])
        try:
            with open(f"/proc/{self.pid}/cgroup") as f:
                lines = f.read().splitlines()
        except OSError:
            return False
        return any(line.endswith(mark) or mark + "/" in line for line in lines)

    @property
    def cgroups(self) -> Cgroup:
        return Cgroup.from_json(self.cgroup)

    def save(self, paths: Paths) -> None:
        path = paths.ct_state(self.ctid)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict()))
        os.replace(tmp, path)

    @classmethod
    def load(cls, paths: Paths, ctid: str) -> RunState | None:
        return cls.load_file(paths.ct_state(ctid))

    @classmethod
    def load_file(cls, path: Path) -> RunState | None:
        """The state in `path`; None if there is none. An unreadable one is an error naming
        the file: taking it for "not running" would let a second init start beside the
        first, or leave a running container that no command can reach."""
        try:
            data = json.loads(path.read_bytes())
            st = cls(**data)
            if not (
                isinstance(st.pid, int)
                and st.pid > 0
                and isinstance(st.starttime, int)
                and isinstance(st.cgroup, list)
                and all(
                    isinstance(d, list) and len(d) == 2 and all(isinstance(x, str) for x in d)
                    for d in st.cgroup
                )
            ):
                raise ValueError("bad pid, starttime or cgroup")
            if proc_starttime(st.pid) == st.starttime and not st._in_own_cgroup():
                raise ValueError(f"its pid {st.pid} is a process outside the container")
            return st
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as e:
            ctid = path.name.removesuffix(".json")
            raise StateConflict(
                f"{path}: unreadable run state of container {ctid} ({e})",
                hint=f"'hutch stop --kill {ctid}' ends what runs of it and removes the file",
            ) from None

    @staticmethod
    def remove(paths: Paths, ctid: str) -> None:
        """The state of a run, and what was kept alongside it (peak values, the settings it
        ran with), goes with it."""
        for path in (paths.ct_state(ctid), paths.ct_maxheld(ctid), paths.ct_settings(ctid)):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def running_state(paths: Paths, ctid: str) -> RunState | None:
    """The state of a container whose init is alive, else None."""
    st = RunState.load(paths, ctid)
    return st if st is not None and st.alive() else None
