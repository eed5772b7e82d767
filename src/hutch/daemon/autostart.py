"""Start the containers marked `onboot` once per host boot (OpenVZ's ONBOOT="yes").

hutchd may be started many times during one boot (on demand, after a crash); only the
first start after a boot autostarts. The boot is told apart by the kernel's boot_id.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hutch.container import lifecycle
from hutch.daemon.supervisor import Supervisor

log = logging.getLogger("hutchd")
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def first_start_this_boot(run_dir: Path) -> bool:
    """True once per boot: records the boot_id in the run directory."""
    boot = BOOT_ID.read_text().strip()
    marker = run_dir / "booted"
    try:
        if marker.read_text().strip() == boot:
            return False
    except FileNotFoundError:
        pass
    marker.write_text(boot + "\n")
    return True


async def autostart(sup: Supervisor) -> list[str]:
    started = []
    for ctid in lifecycle.list_ids(sup.host):
        try:
            cfg = lifecycle.require(sup.host, ctid)
            if not cfg.onboot or ctid in sup.running:
                continue
            await sup.start(ctid)
            started.append(ctid)
        except Exception as e:  # one broken container must not keep the others down
            log.error("autostart of %s failed: %s", ctid, e)
    if started:
        log.info("autostarted %s", ", ".join(started))
    return started
