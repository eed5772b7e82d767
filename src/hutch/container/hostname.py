"""The container's host name: kernel (UTS namespace) and /etc/hostname and /etc/hosts."""

from __future__ import annotations

import os
import re

from hutch.linux import syscalls as sc
from hutch.linux.rootpath import (
    RootFileRefused,
    check_replaceable,
    opened_root,
    read_file_in_root,
    write_file_in_root,
)

_MARK = "# hutch: hostname"


def write_hostname_files(rootfs: str, hostname: str, strict: bool = True) -> list[str]:
    """/etc/hostname, and a 127.0.1.1 line in /etc/hosts (resolved inside the rootfs, through
    hutch.linux.rootpath: regular files of a bounded size only).

    strict (`set`, create): a file the container made unusable (a FIFO, a device, a
    directory, a huge file) raises RootFileRefused before either file is written, so a
    refused `set` changes nothing. Not strict (start, the restart after an in-container
    reboot): that file is skipped and a warning returned. A start must not fail, nor hang,
    because the container's own root planted junk in its own /etc: the files only tell its
    init a name the kernel already holds (sethostname at start).
    """
    warnings: list[str] = []
    with opened_root(rootfs) as rootfd:
        try:
            old = (read_file_in_root(rootfd, "etc/hosts") or b"").decode(errors="replace")
            hosts: bytes | None = _hosts_with(old, hostname).encode()
        except RootFileRefused as e:
            if strict:
                raise
            warnings.append(f"{e}: left as it is")
            hosts = None
        if strict:
            check_replaceable(rootfd, "etc/hostname")
            if hosts is not None:
                check_replaceable(rootfd, "etc/hosts")
        for path, data in (("etc/hostname", f"{hostname}\n".encode()), ("etc/hosts", hosts)):
            if data is None:
                continue
            try:
                write_file_in_root(rootfd, path, data)
            except RootFileRefused as e:
                if strict:
                    raise
                warnings.append(f"{e}: left as it is")
    return warnings


def _hosts_with(text: str, hostname: str) -> str:
    short = hostname.split(".")[0]
    names = hostname if short == hostname else f"{hostname} {short}"
    line = f"127.0.1.1\t{names}\t{_MARK}"
    lines = [ln for ln in text.splitlines() if not ln.endswith(_MARK)]
    if not any(re.match(r"\s*127\.0\.0\.1\s", ln) for ln in lines):
        lines.insert(0, "127.0.0.1\tlocalhost")
    lines.append(line)
    return "\n".join(lines) + "\n"


def set_live_hostname(init_pid: int, hostname: str) -> None:
    """sethostname(2) inside the container's UTS namespace, from a short-lived child."""
    fd = os.open(f"/proc/{init_pid}/ns/uts", os.O_RDONLY | os.O_CLOEXEC)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                sc.setns(fd, sc.CLONE_NEWUTS, "uts")
                sc.sethostname(hostname)
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError(f"sethostname {hostname} in the container failed")
