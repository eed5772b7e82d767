"""`hutch checkconfig`'s probes of what hutch.security needs beyond the kernel's own:
libseccomp, which compiles the filter, and the loading of the device allowlist program."""

from __future__ import annotations

import os

from hutch.host.features import Check


def libseccomp() -> Check:
    from hutch.security.seccomp import library_version

    # it compiles the filter: without it only `security.seccomp = "unconfined"` starts
    version = library_version()
    return Check(
        "Misc",
        "libseccomp",
        "enabled" if version else "missing",
        version or "no seccomp filter (apt-get install python3-seccomp)",
    )


def bpf_device_programs() -> Check:
    ok = _bpf_device_program()
    return Check(
        "Misc",
        "BPF cgroup device programs",
        "enabled" if ok else "optional",
        "" if ok else "no device allowlist on cgroup v2",
    )


def _bpf_device_program() -> bool:
    """Load (and drop) the device allowlist program hutch attaches on cgroup v2."""
    from hutch.linux import bpf
    from hutch.security.devices import allowlist, program

    try:
        fd = bpf.prog_load(bpf.BPF_PROG_TYPE_CGROUP_DEVICE, program(allowlist()))
    except OSError:
        return False
    os.close(fd)
    return True
