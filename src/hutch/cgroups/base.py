"""The cgroup interface shared by the v1 and v2 drivers."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hutch.cgroups.limits import Limits
    from hutch.security.devices import DeviceRule

CGROUP_ROOT = Path("/sys/fs/cgroup")


INNER = "ct"
# v2's delegation files (cgroup-v2.rst, "Delegation Containment"), and v1's equivalents
DELEGATED_FILES = (
    "cgroup.procs",
    "cgroup.threads",
    "cgroup.subtree_control",
    "tasks",
    "cgroup.clone_children",
    "notify_on_release",
)


class Cgroup:
    """One container's groups, one per hierarchy, keyed by hierarchy name.

    Each `dirs` entry is the container's top group (`<subtree>/<ctid>`): limits and
    accounting live there. The container's processes live one level down, in `ct`, which
    is also the root of its cgroup namespace, so nothing inside can write its own limits
    (and an init like systemd can create groups below its root). The first entry is the
    primary hierarchy (v2: the unified one; v1: pids), used to list processes.
    """

    __slots__ = ("dirs",)

    def __init__(self, dirs: tuple[tuple[str, str], ...]) -> None:
        self.dirs = tuple(dirs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cgroup) and other.dirs == self.dirs

    def __hash__(self) -> int:
        return hash(self.dirs)

    def __repr__(self) -> str:
        return f"Cgroup({self.dirs!r})"

    @property
    def primary(self) -> Path:
        return Path(self.dirs[0][1])

    def dir(self, hierarchy: str) -> Path | None:
        for name, path in self.dirs:
            if name == hierarchy:
                return Path(path)
        return None

    def attach(self, pid: int = 0) -> None:
        """Move a process (0: the caller) into the container's inner group, everywhere."""
        data = str(pid).encode()
        for _, path in self.dirs:
            fd = os.open(os.path.join(path, INNER, "cgroup.procs"), os.O_WRONLY)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def pids(self) -> list[int]:
        """Every process of the container, in whatever group below its top it sits."""
        out: list[int] = []
        for dirpath, _dirs, files in os.walk(self.primary):
            if "cgroup.procs" in files:
                try:
                    with open(os.path.join(dirpath, "cgroup.procs")) as f:
                        out += [int(line) for line in f if line.strip()]
                except FileNotFoundError:
                    pass
        return out

    def delegate(self, uid: int, gid: int) -> None:
        """Give the inner group to an unprivileged container's root, as cgroup delegation
        asks: the directory (to make groups below it) and the files that move processes
        and hand controllers down. Its limits stay one level up, out of its reach."""
        for _, path in self.dirs:
            inner = os.path.join(path, INNER)
            os.chown(inner, uid, gid)
            for name in DELEGATED_FILES:
                try:
                    os.chown(os.path.join(inner, name), uid, gid)
                except FileNotFoundError:
                    pass  # a v1 or a v2 file, not both

    def exists(self) -> bool:
        return self.primary.is_dir()

    def remove(self, wait: float = 2.0) -> None:
        """Remove every directory, deepest first; idempotent ("already gone" is success).

        Right after a container's init dies the kernel may still be tearing down its last
        tasks, so rmdir gets EBUSY for a moment: retry for up to `wait` seconds.
        """
        deadline = time.monotonic() + wait
        for _, top in self.dirs:
            subdirs = [d for d, _, _ in os.walk(top, topdown=False)]
            for path in subdirs:
                _rmdir_retry(path, deadline)
            # the per-host subtree goes with its last container (busy: others still use it)
            try:
                os.rmdir(os.path.dirname(top))
            except OSError:
                pass

    def to_json(self) -> list[list[str]]:
        return [list(d) for d in self.dirs]

    @classmethod
    def from_json(cls, data: list[list[str]]) -> Cgroup:
        return cls(tuple((str(a), str(b)) for a, b in data))


def _rmdir_retry(path: str, deadline: float) -> None:
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise OSError(e.errno, f"rmdir {path}: {e.strerror}") from None
            time.sleep(0.01)


class CgroupDriver:
    """Creates and finds container groups. Subclasses: `V1Driver`, `V2Driver`."""

    version = 0

    def __init__(self, subtree: str) -> None:
        self.subtree = subtree

    def create(self, ctid: str) -> Cgroup:
        """Create (or find) the container's group in every hierarchy."""
        # another container's cleanup may remove the empty per-host subtree between our
        # two mkdirs: try again
        for _ in range(5):
            try:
                return self._create(ctid)
            except FileNotFoundError:
                continue
        return self._create(ctid)

    def _create(self, ctid: str) -> Cgroup:
        raise NotImplementedError

    def container_mounts(self) -> list[tuple[str, str, str]]:
        """What to mount under a container's /sys/fs/cgroup, inside its cgroup namespace:
        (subdirectory, fstype, data); "" is /sys/fs/cgroup itself."""
        raise NotImplementedError

    def apply(self, cg: Cgroup, limits: Limits) -> list[str]:
        """Set every limit (unset ones back to unlimited); returns warnings for limits the
        kernel cannot enforce here. Safe on a running container."""
        raise NotImplementedError

    def restrict_devices(self, cg: Cgroup, rules: tuple[DeviceRule, ...]) -> None:
        """Let the container open only the devices `rules` allow (every call replaces the
        previous list). Safe on a running container."""
        raise NotImplementedError

    def freeze(self, cg: Cgroup) -> None:
        raise NotImplementedError

    def thaw(self, cg: Cgroup) -> None:
        raise NotImplementedError

    def frozen(self, cg: Cgroup) -> bool:
        raise NotImplementedError

    def find(self, ctid: str) -> Cgroup:
        """The group a container would have, whether or not it exists."""
        raise NotImplementedError

    def hierarchies(self) -> list[tuple[str, Path]]:
        raise NotImplementedError


def _mkdir(path: Path) -> bool:
    """Create one cgroup directory; True if this call created it."""
    try:
        os.mkdir(path)
        return True
    except FileExistsError:
        return False
