"""Run a command inside a running container (`exec`, `enter`), straight from the CLI.

No daemon involved, so it works while hutchd is down and stays fast:

    hutch (host) ──fork──> joiner: join the cgroup, setns(pidfd, all namespaces), chroot
                              └──fork──> command (in the container's pid namespace)

The joiner waits for the command and exits with its status, so `hutch exec` returns it.

The terminal model (issue 12 item 1): no file descriptor of the host ever reaches the
container, and the command never shares the operator's terminal or session. The command
starts a session of its own (setsid: no controlling terminal, so /dev/tty inside gives
ENXIO, and no TIOCSTI, tcsetpgrp or read reaches the operator's shell). Its stdio is
* without -t: three pipes made here and relayed by the CLI (piperelay);
* with -t (and enter): a pty the joiner allocates inside the container's own devpts, its
  master handed to the CLI over a socket and relayed to the user's terminal (ttyrelay).
The joiner itself holds only those pipes from its first instruction on, and sits in a process
group of its own: signals the operator's terminal sends the CLI (^C) are forwarded once, by
the CLI to the joiner and by the joiner to the command's process group.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
from collections.abc import Iterator, Sequence

from hutch.container.nsflags import DEFAULT_PATH, NAMESPACE_FLAGS
from hutch.container.state import RunState, running_state
from hutch.errors import NotFound, StateConflict
from hutch.linux import proctitle
from hutch.linux import syscalls as sc
from hutch.paths import Paths
from hutch.security import confine

# typing costs the CLI ~9 ms to import; type checkers still read this block
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

TIOCGPTPEER = 0x5441
TIOCSPTLCK = 0x40045431
PR_GET_DUMPABLE = 3


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


def default_shell(pid: int) -> str:
    """The shell `enter` starts in the container of init `pid`: bash if it has one."""
    for shell in ("/bin/bash", "/bin/sh"):
        # look through the container's root, as the process sees it
        if os.path.lexists(f"/proc/{pid}/root{shell}"):
            return shell
    return "/bin/sh"


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
    cwd_fallback: str | None = None,
) -> int:
    """Run argv in the container; returns its exit code (128+N if killed by signal N).

    A `cwd` the command cannot change to is refused (exit 126), unless `cwd_fallback` names
    where to go instead (enter: /root, else /)."""
    env = env if env is not None else exec_env(os.environ.get("TERM") if tty else None)
    pid, ours, parent_sock = _start_joiner(paths, ctid, argv, tty, env, cwd, cwd_fallback)
    joiner = os.pidfd_open(pid)
    try:
        if parent_sock is not None:
            from hutch.container.ttyrelay import relay_from_socket

            relay_from_socket(parent_sock, joiner)
            _copy_rest(ours[0], 2)
        else:
            from hutch.container.piperelay import relay

            with _forwarding_signals(pid):
                relay(joiner, *ours)
    finally:
        os.close(joiner)
    return wait_joiner(pid)


def wait_joiner(pid: int) -> int:
    """The command's exit code, as `run` returns it (the joiner exits with it)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def start_piped(
    paths: Paths, ctid: str, argv: Sequence[str], env: dict[str, str], cwd: str = "/"
) -> tuple[int, int, int, int]:
    """Start argv in the container with three pipes of its own and no relay: the library's
    exec. Returns (joiner pid, stdin write end, stdout read end, stderr read end); the
    caller closes them and collects the status with `wait_joiner`."""
    pid, ours, _ = _start_joiner(paths, ctid, argv, False, env, cwd, None)
    return pid, ours[0], ours[1], ours[2]


def _start_joiner(
    paths: Paths,
    ctid: str,
    argv: Sequence[str],
    tty: bool,
    env: dict[str, str],
    cwd: str,
    cwd_fallback: str | None,
) -> tuple[int, list[int], socket.socket | None]:
    """Fork the joiner. Returns its pid, our ends of its stdio (tty: [stderr]; else
    [stdin, stdout, stderr]) and, with `tty`, the socket its pty master comes over."""
    st = require_running(paths, ctid)
    _fill_stdio()
    pidfd = _pidfd(st)
    rootfd = os.open(f"/proc/{st.pid}/root", sc.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
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
    # The joiner's (and the command's) stdio: pipes, never the CLI's own fds. With -t only
    # stderr, for what the joiner says before the command has its pty.
    if tty:
        err_r, err_w = _pipe()
        ours, theirs = [err_r], (err_w, err_w, err_w)
    else:
        in_r, in_w = _pipe()
        out_r, out_w = _pipe()
        err_r, err_w = _pipe()
        ours, theirs = [in_w, out_r, err_r], (in_r, out_w, err_w)
    cli = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        for fd in ours:
            os.close(fd)
        if parent_sock is not None:
            parent_sock.close()
        _joiner(
            st,
            pidfd,
            rootfd,
            list(argv),
            env,
            (cwd, cwd_fallback),
            child_sock,
            confinement,
            theirs,
            cli,
        )
    with contextlib.suppress(OSError):  # also done by the joiner; whoever comes first
        os.setpgid(pid, pid)
    os.close(pidfd)
    os.close(rootfd)
    for fd in set(theirs):
        os.close(fd)
    if child_sock is not None:
        child_sock.close()
    return pid, ours, parent_sock


def _pipe() -> tuple[int, int]:
    return os.pipe2(os.O_CLOEXEC)


def _fill_stdio() -> None:
    """A CLI started with stdin, stdout or stderr closed gets /dev/null there: every fd made
    from here on is above 2, so the joiner's dup2() onto 0, 1 and 2 clobbers none of them,
    and the relay reads and writes what it expects."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free fd: this one
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _copy_rest(fd: int, sink: int) -> None:
    """What the joiner wrote on stderr (exec -t: why it could not start the command)."""
    os.set_blocking(fd, False)
    try:
        while data := os.read(fd, 65536):
            os.write(sink, data)
    except OSError:
        pass
    finally:
        os.close(fd)


# what the CLI passes on to the command (via the joiner) instead of dying of it
FORWARDED = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _forwarding_signals(joiner: int) -> Iterator[None]:
    """^C on the operator's terminal reaches the CLI's process group only (the command has
    a session of its own, the joiner a group of its own): pass it on, once."""

    def forward(sig: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(joiner, sig)

    old = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


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
    cwd: tuple[str, str | None],
    sock: socket.socket | None,
    confinement: confine.Confinement | None,
    stdio: tuple[int, int, int],
    cli: int,
) -> None:  # pragma: no cover - child
    # First of all: let go of the CLI's fds (the operator's terminal); errors from here on
    # reach the user through the relayed stderr pipe.
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    for fd in set(stdio):
        os.close(fd)
    try:
        signal.set_wakeup_fd(-1)
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL)  # until there is a command to forward to
        os.setpgid(0, 0)  # see _forwarding_signals
        # Until the command's execve this process (and its child) is the host's Python:
        # not dumpable, nothing inside may open its /proc/PID/exe, fds, root or memory
        # (the runc CVE-2019-5736 path). The container's own binary resets this at exec.
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        # the operator's command line (secrets of -e included) is no business of the
        # container, whose processes can read the command's /proc/PID/cmdline
        proctitle.blank()
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
        # A change of credentials (setns into a user namespace, setresuid) resets the
        # dumpable flag to fs.suid_dumpable and clears the parent-death signal
        # (commit_creds): set both again, now that they stay (issue 12 item 8).
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        _check_not_dumpable()
        sc.set_pdeathsig(signal.SIGHUP)  # a killed CLI hangs the command up
        if os.getppid() != cli:
            os.kill(os.getpid(), signal.SIGHUP)  # it died before that was set
        os.fchdir(rootfd)
        os.chroot(".")
        os.close(rootfd)
        os.close(pidfd)
        master = None
        if sock is not None:
            import fcntl
            import socket
            import struct

            master = _open_ptmx()
            fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
            socket.send_fds(sock, [b"m"], [master])
            sock.close()
        # signals forwarded to the command from its fork on (blocked until the handlers are
        # in place; the command unblocks its own)
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        child = os.fork()
        if child == 0:
            _command(argv, env, cwd, master, confinement)
        if master is not None:
            os.close(master)
        # the joiner only waits: no need of the command's stdin and stdout (keeping the
        # stdin pipe open would hide from the CLI that the command closed it)
        os.close(0)
        os.close(1)

        def forward(sig: int, _frame: object) -> None:
            try:
                os.kill(-child, sig)  # its process group: a pipeline of `sh -c` too
            except ProcessLookupError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, sig)  # not yet its own session

        for sig in FORWARDED:
            signal.signal(sig, forward)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
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
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [termsig])
            os.kill(os.getpid(), termsig)
            os._exit(128 + termsig)
        os._exit(os.waitstatus_to_exitcode(status))
    except BaseException as e:
        os.write(2, f"hutch: cannot enter container {st.ctid}: {e}\n".encode())
        os._exit(126)


def _check_not_dumpable() -> None:  # pragma: no cover - child
    if sc.prctl(PR_GET_DUMPABLE) != 0:
        raise OSError("prctl(PR_SET_DUMPABLE, 0) did not hold")


def _open_ptmx() -> int:  # pragma: no cover - child, after the chroot
    """The pty master of the container's devpts, opened without trusting the container's
    /dev: /dev/pts/ptmx with no symlink, magic link or mount crossing below /dev/pts, else
    /dev/ptmx (a symlink to pts/ptmx, kept inside the root), and in either case the char
    device 5:2 (a FIFO or another device planted there is refused, not opened for use)."""
    flags = os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK
    strict = sc.RESOLVE_NO_SYMLINKS | sc.RESOLVE_NO_MAGICLINKS
    try:
        pts = sc.openat2(sc.AT_FDCWD, "/dev/pts", sc.O_PATH | os.O_DIRECTORY, 0, strict)
        try:
            fd = sc.openat2(pts, "ptmx", flags, 0, strict | sc.RESOLVE_NO_XDEV | sc.RESOLVE_BENEATH)
        finally:
            os.close(pts)
    except OSError:
        try:
            fd = sc.openat2(
                sc.AT_FDCWD, "/dev/ptmx", flags, 0, sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
            )
        except OSError as e:
            raise OSError(
                e.errno, f"no pty master in the container: /dev/ptmx: {os.strerror(e.errno or 0)}"
            ) from None
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or (os.major(st.st_rdev), os.minor(st.st_rdev)) != (5, 2):
        os.close(fd)
        raise OSError("refusing /dev/ptmx of the container: not the pty multiplexer (char 5:2)")
    os.set_blocking(fd, True)
    return fd


def _command(  # pragma: no cover - child
    argv: list[str],
    env: dict[str, str],
    cwd: tuple[str, str | None],
    master: int | None,
    confinement: confine.Confinement | None,
) -> None:
    try:
        # a session of its own: no controlling terminal, and none of the operator's
        os.setsid()
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, *FORWARDED):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if master is not None:
            import fcntl
            import termios

            slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR)
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            if slave > 2:
                os.close(slave)
            os.close(master)
        # nothing but stdio from here on: no fd of the host, and no /proc/self/fd/N that
        # --cwd could name to leave the root (runc CVE-2019-5736, CVE-2024-21626)
        os.closerange(3, 1 << 20)
        try:
            _chdir(cwd[0])
        except _CwdRefused:
            if cwd[1] is None:
                raise
            _chdir(cwd[1])
        if confinement is not None:
            confine.apply(confinement)  # the same capabilities and filter as the init
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        os.write(2, f"hutch: {argv[0]}: command not found in the container\n".encode())
        os._exit(127)
    except _CwdRefused as e:
        os.write(2, f"hutch: --cwd {cwd[0]}: {e}\n".encode())
        os._exit(126)
    except BaseException as e:
        os.write(2, f"hutch: cannot run {argv[0]}: {e}\n".encode())
        os._exit(126)


class _CwdRefused(Exception):
    pass


def _chdir(cwd: str) -> None:  # pragma: no cover - child, after the chroot
    """Change to the working directory inside the root, or refuse: never fall back to /, and
    never follow a magic link (/proc/self/fd/N, /proc/1/cwd) that could lead outside."""
    try:
        fd = sc.openat2(sc.AT_FDCWD, cwd, sc.O_PATH | os.O_DIRECTORY, 0, sc.RESOLVE_NO_MAGICLINKS)
    except OSError as e:
        why = os.strerror(e.errno or 0)
        if e.errno == errno.ELOOP:
            why = "refusing a magic link (/proc/PID/fd/N, /proc/PID/cwd) or a symlink loop"
        raise _CwdRefused(f"cannot change to it in the container: {why}") from None
    try:
        os.fchdir(fd)
    finally:
        os.close(fd)
    try:
        here = os.getcwd()  # glibc: ENOENT when the directory is not below our root
    except OSError:
        here = ""
    if not here.startswith("/"):
        raise _CwdRefused("refusing a directory outside the container's root")
