"""freeze / unfreeze on the real freezer: a counter inside stops and resumes, exec is refused
while frozen, and a frozen container still stops cleanly (stop thaws first)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

LOOP = "i=0; while :; do i=$((i+1)); echo $i > /tmp/c; sleep 0.05; done"
STILL = 0.5  # seconds a frozen counter must not move


def counter(hutch, init: int) -> int | None:
    """The number the loop last wrote, read from the host through the init's root."""
    try:
        text = Path(f"/proc/{init}/root/tmp/c").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None  # None: caught between truncate and write


def advances(hutch, init: int, what: str) -> int:
    start = hutch.wait_until(lambda: counter(hutch, init), 5, f"the counter ({what})")
    return hutch.wait_until(
        lambda: (c := counter(hutch, init)) is not None and c > start and c,
        5,
        f"the counter to advance ({what})",
    )


def loop_pids(hutch, ctid: str) -> list[int]:
    found = []
    for line in hutch.processes(ctid):
        pid, _, args = line.partition(" ")
        if LOOP in args:  # the subshell running it keeps its parent's command line
            found.append(int(pid))
    return found


def kernel_frozen(hutch, ctid: str) -> bool:
    """What the freezer itself says of the container's top group."""
    st = hutch.state(ctid)
    g = {name: Path(path) for name, path in st["cgroup"]}
    if "freezer" in g:
        return (g["freezer"] / "freezer.state").read_text().strip() == "FROZEN"
    return "frozen 1" in (g["unified"] / "cgroup.events").read_text().splitlines()


def test_freeze_stops_everything_and_unfreeze_resumes(hutch):
    ctid = hutch.running()
    init = hutch.init_pid(ctid)
    assert init is not None
    hutch.ok("exec", ctid, "sh", "-c", f"({LOOP}) </dev/null >/dev/null 2>&1 &")
    advances(hutch, init, "before freeze")
    loops = hutch.wait_until(lambda: loop_pids(hutch, ctid), 5, "the counter loop's pid")

    hutch.ok("freeze", ctid)
    assert hutch.status(ctid) == "frozen"
    assert kernel_frozen(hutch, ctid)
    [row] = hutch.json("list")
    assert (row["ctid"], row["status"]) == (ctid, "frozen")
    assert "frozen" in hutch.ok("list").stdout.split()
    before = Path(f"/proc/{init}/root/tmp/c").read_text()
    time.sleep(STILL)  # the window in which nothing may move
    assert Path(f"/proc/{init}/root/tmp/c").read_text() == before, "counter moved while frozen"
    assert all(hutch.alive(p) for p in loops)

    assert "frozen" in hutch.fails("exec", ctid, "true", code=6)
    assert "frozen" in hutch.fails("freeze", ctid)
    assert hutch.status(ctid) == "frozen"

    hutch.ok("unfreeze", ctid)
    assert hutch.status(ctid) == "running"
    assert not kernel_frozen(hutch, ctid)
    advances(hutch, init, "after unfreeze")
    assert "not frozen" in hutch.fails("unfreeze", ctid)
    hutch.ok("exec", ctid, "true")

    # frozen again, stop still goes through the init (thawed first), not the timeout
    hutch.ok("freeze", ctid)
    assert hutch.status(ctid) == "frozen"
    out = hutch.json("stop", ctid)
    assert (out["status"], out["shutdown"]) == ("stopped", "clean"), out
    assert hutch.status(ctid) == "stopped"
    assert hutch.processes(ctid) == []
    assert hutch.cgroup_dirs(ctid) == []
    assert not hutch.alive(init) and not any(hutch.alive(p) for p in loops)
    assert not os.path.exists(f"/proc/{init}/root/tmp/c")
