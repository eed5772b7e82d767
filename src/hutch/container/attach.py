"""Run a command inside a running container (`exec`, `enter`), straight from the CLI.

No daemon involved, so it works while hutchd is down and stays fast:

    hutch (host) ──fork──> joiner: join the cgroup, setns(pidfd, all namespaces), chroot
                              └──fork──> command (in the container's pid namespace)

The joiner waits for the command and exits with its status, so `hutch exec` returns it.
With a tty, the joiner allocates the pty inside the container's own devpts and hands the
master to the host side over a socket, which relays it to the user's terminal: the
container never gets a host terminal fd.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

from hutch.container.nsflags import DEFAULT_PATH, NAMESPACE_FLAGS
from hutch.container.state import RunState, running_state
from hutch.errors import NotFound, StateConflict
from hutch.linux import syscalls as sc
from hutch.paths import Paths
from hutch.security import confine

# typing costs the CLI ~9 ms to import; type checkers still read this block
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

TIOCGPTPEER = 0x5441
TIOCSPTLCK = 0x40045431


def exec_env(term: str | None = None, extra: Sequence[str] = ()) -> dict[str, str]:
    env = {
        "PATH": DEFAULT_PATH,
        "HOME": "/root",
        "container": "hutch",
        "USER": "root",
        "LOGNAME": "root",
        "SHELL": "/bin/sh",
    }
    if term:
        env["TERM"] = term
    for item in extra:
        k, _, v = item.partition("=")
        env[k] = v
    return env


def require_running(paths: Paths, ctid: str) -> RunState:
    st = running_state(paths, ctid)
    if st is None and not paths.ct_config(ctid).is_file():
        raise NotFound(f"container {ctid} does not exist", hint="see 'hutch list -a'")
    if st is None:
        raise StateConflict(f"container {ctid} is not running", hint=f"hutch start {ctid}")
    return st


def _pidfd(st: RunState) -> int:
    """A pidfd of the init, checked to be the same process the state names (no pid reuse)."""
    try:
        fd = os.pidfd_open(st.pid)
    except ProcessLookupError:
        raise StateConflict(f"container {st.ctid} is not running") from None
    if not st.alive():
        os.close(fd)
        raise StateConflict(f"container {st.ctid} is not running")
    return fd


def run(
    paths: Paths,
    ctid: str,
    argv: Sequence[str],
    tty: bool = False,
    env: dict[str, str] | None = None,
    cwd: str = "/",
) -> int:
    """Run argv in the container; returns its exit code (128+N if killed by signal N)."""
    st = require_running(paths, ctid)
    pidfd = _pidfd(st)
    rootfd = os.open(f"/proc/{st.pid}/root", sc.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    env = env if env is not None else exec_env(os.environ.get("TERM") if tty else None)
    parent_sock = child_sock = None
    if tty:
        # socket only here: it costs the plain exec path ~10 ms. The joiner and the command
        # import the others after chroot into the container, where the host's Python library
        # is out of reach: load them now, while it is not.
        import fcntl  # noqa: F401
        import socket
        import struct  # noqa: F401
        import termios  # noqa: F401

        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # built now: after the chroot the host's Python library is out of reach
    confinement = confine.prepare(st.security)
    frozen = _is_frozen(st)
    if frozen:
        os.close(pidfd)
        os.close(rootfd)
        raise StateConflict(f"container {ctid} is frozen", hint=f"hutch unfreeze {ctid}")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        if parent_sock is not None:
            parent_sock.close()
        _joiner(st, pidfd, rootfd, list(argv), env, cwd, child_sock, confinement)
    os.close(pidfd)
    os.close(rootfd)
    if child_sock is not None:
        child_sock.close()
    if parent_sock is not None:
        from hutch.container.ttyrelay import relay_from_socket

        relay_from_socket(parent_sock, pid)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _is_frozen(st: RunState) -> bool:
    for _name, path in st.cgroup:
        for knob in ("freezer.state", "cgroup.freeze"):
            try:
                with open(os.path.join(path, knob)) as f:
                    if f.read().strip() in ("FROZEN", "1"):
                        return True
            except OSError:
                continue
    return False


def _joiner(
    st: RunState,
    pidfd: int,
    rootfd: int,
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    sock: socket.socket | None,
    confinement: confine.Confinement | None,
) -> None:  # pragma: no cover - child
    try:
        signal.set_wakeup_fd(-1)
        # Until the command's execve this process (and its child) is the host's Python:
        # not dumpable, nothing inside may open its /proc/PID/exe, fds, root or memory
        # (the runc CVE-2019-5736 path). The container's own binary resets this at exec.
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        st.cgroups.attach(0)
        if st.idmap_base is None:
            sc.setns(pidfd, NAMESPACE_FLAGS, f"container {st.ctid}")
        else:
            # the user namespace too (the kernel joins it first), then become its root:
            # until then our host uid 0 has no name in there
            sc.setns(pidfd, NAMESPACE_FLAGS | sc.CLONE_NEWUSER, f"container {st.ctid}")
            os.setgroups([])
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        os.fchdir(rootfd)
        os.chroot(".")
        os.close(rootfd)
        os.close(pidfd)
        master = None
        if sock is not None:
            import fcntl
            import socket
            import struct

            master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
            fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
            socket.send_fds(sock, [b"m"], [master])
            sock.close()
        child = os.fork()
        if child == 0:
            _command(argv, env, cwd, master, confinement)
        if master is not None:
            os.close(master)
        # the joiner only waits: keep the user's ^C for the command, not for us
        for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        if os.WIFSIGNALED(status):
            # die of the same signal, so the CLI reports 128+N (SIGKILL has no handler to reset)
            termsig = os.WTERMSIG(status)
            if termsig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(termsig, signal.SIG_DFL)
            os.kill(os.getpid(), termsig)
            os._exit(128 + termsig)
        os._exit(os.waitstatus_to_exitcode(status))
    except BaseException as e:
        os.write(2, f"hutch: cannot enter container {st.ctid}: {e}\n".encode())
        os._exit(126)


def _command(  # pragma: no cover - child
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    master: int | None,
    confinement: confine.Confinement | None,
) -> None:
    try:
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if master is not None:
            import fcntl
            import termios

            os.setsid()
            slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR)
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            if slave > 2:
                os.close(slave)
            os.close(master)
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/")
        os.closerange(3, 1 << 20)
        if confinement is not None:
            confine.apply(confinement)  # the same capabilities and filter as the init
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        os.write(2, f"hutch: {argv[0]}: command not found in the container\n".encode())
        os._exit(127)
    except BaseException as e:
        os.write(2, f"hutch: cannot run {argv[0]}: {e}\n".encode())
        os._exit(126)
