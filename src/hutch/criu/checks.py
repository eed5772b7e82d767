"""`hutch checkconfig`'s Checkpoint section: CRIU's readiness, asked of CRIU itself."""

from __future__ import annotations

import shutil

from hutch.criu import binary, readiness
from hutch.host.features import Check


def checkpoint() -> list[Check]:
    """CRIU's readiness: hutch works without it, minus checkpoint, restore and migration."""
    r = readiness.probe()
    lost = "no checkpoint/restore or live migration"
    if r.path is None:
        return [Check("Checkpoint", "CRIU", "optional", f"{lost} (run setup.sh)")]
    out = [Check("Checkpoint", "CRIU", "enabled", r.path)]
    new_enough = r.version is not None and r.version[:2] >= binary.MIN_VERSION
    out.append(
        Check(
            "Checkpoint",
            "CRIU version",
            "enabled" if new_enough else "optional",
            r.version_text if new_enough else f"{r.version_text}: {lost} (need 4.0 or later)",
        )
    )
    problems = "; ".join(r.problems)
    if r.check_ok:
        out.append(Check("Checkpoint", "criu check", "enabled", problems))
    else:
        out.append(Check("Checkpoint", "criu check", "optional", f"{lost}: {problems}"))
    if r.check_ok:
        for name, why in readiness.FEATURES:
            ok = r.features.get(name, False)
            out.append(
                Check("Checkpoint", name, "enabled" if ok else "optional", "" if ok else why)
            )
        ipt = shutil.which("iptables-save")
        out.append(
            Check(
                "Checkpoint",
                "iptables-save",
                "enabled" if ipt else "optional",
                "" if ipt else "criu cannot dump a network namespace (apt-get install iptables)",
            )
        )
    return out
