"""Blank this process's command line and environment as /proc shows them to others.

`hutch exec` forks the CLI's Python into the container; until its execve that process shows
the operator's `python -m hutch exec ID -e KEY=SECRET ...` in /proc/PID/cmdline, which every
process of the container's pid namespace may read (no ptrace check guards cmdline). The
kernel reads that file from the memory between the mm's arg_start and arg_end (and environ
from env_start..env_end), so zeroing those bytes in place hides them for good, in this
process and in every child it forks after. Chosen over prctl(PR_SET_MM_ARG_START/END): that
needs CAP_SYS_RESOURCE over the host and an address inside a mapping, while the memory is
ours to overwrite. Python keeps its own copies (sys.argv, os.environ), so nothing here
depends on the original strings.
"""

from __future__ import annotations

import ctypes


def _areas() -> list[tuple[int, int]]:
    with open("/proc/self/stat", "rb") as f:
        data = f.read()
    # fields 48..51 of proc(5): arg_start arg_end env_start env_end; counted from the
    # state (field 3), the first after the ")" that closes the command name
    fields = data[data.rindex(b")") + 2 :].split()
    arg_start, arg_end, env_start, env_end = (int(v) for v in fields[45:49])
    return [(arg_start, arg_end), (env_start, env_end)]


def blank() -> None:
    """Zero the argument and environment strings (cmdline reads as NUL bytes only)."""
    for start, end in _areas():
        if 0 < start < end:
            ctypes.memset(start, 0, end - start)
