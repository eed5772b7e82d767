"""Everything `hutch checkconfig` reports, gathered from the layer of each concern: the
kernel's own features (hutch.host), cgroups, security and CRIU, each probing its own. Here,
above them all, the report is put in the order lxc-checkconfig's readers know."""

from __future__ import annotations

from hutch.host import features
from hutch.host.features import Check


def check_all() -> list[Check]:
    from hutch.cgroups.checks import control_groups
    from hutch.criu.checks import checkpoint
    from hutch.security.checks import bpf_device_programs, libseccomp

    misc = [
        *features.interfaces(),
        libseccomp(),
        features.file_capabilities(),
        bpf_device_programs(),
        *features.helpers(),
    ]
    return [
        *features.namespaces(),
        *control_groups(),
        *features.network(),
        *features.filesystems(),
        *misc,
        *checkpoint(),
    ]
