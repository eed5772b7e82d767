"""Accounting on the real kernel: beancounters, stats and `list -o` of a running container
with a task and a memory limit, and a fork loop that runs into the task limit."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root

PAGE = os.sysconf("SC_PAGE_SIZE")
LONG_MAX = 2**63 - 1
# background children must not keep exec's output pipe open
SLEEPERS = "sleep 30 >/dev/null 2>&1 & sleep 30 >/dev/null 2>&1 & echo started"
FORK_LOOP = "for i in $(seq 100); do sleep 2 >/dev/null 2>&1 & done; wait"


def test_accounting_of_a_limited_container(hutch):
    ctid = hutch.create()
    hutch.ok("set", ctid, "--numproc", "40", "--memory", "64M", "--save")
    hutch.start(ctid)
    assert hutch.ok("exec", ctid, "sh", "-c", SLEEPERS, timeout=10).stdout == "started\n"

    bean = hutch.json("beancounters", ctid)[ctid]
    numproc = bean["numproc"]
    assert numproc["held"] >= 3, numproc
    assert (numproc["barrier"], numproc["limit"], numproc["failcnt"]) == (40, 40, 0)
    phys = bean["physpages"]
    assert phys["limit"] == (64 << 20) // PAGE and phys["held"] > 0, phys
    assert phys["maxheld"] >= phys["held"]
    assert bean["numfile"]["held"] > 0
    assert bean["kmemsize"]["barrier"] == LONG_MAX  # accounting only, not configured
    assert hutch.paths.run.joinpath("containers", f"{ctid}.maxheld.json").is_file()

    # the task limit holds, and the kernel counts the refused forks
    p = hutch.run("exec", ctid, "sh", "-c", FORK_LOOP, timeout=20)
    assert "fork" in p.stderr, p.stderr
    numproc = hutch.json("beancounters", ctid)[ctid]["numproc"]
    assert numproc["failcnt"] > 0, numproc
    assert numproc["maxheld"] == 40, numproc

    text = hutch.ok("beancounters").stdout.splitlines()
    assert text[0] == "Version: 2.5"
    assert text[1].split() == ["uid", "resource", "held", "maxheld", "barrier", "limit", "failcnt"]
    assert text[2].split()[:2] == [f"{ctid}:", "kmemsize"]
    numproc_line = next(line for line in text if line.split()[0] == "numproc").split()
    assert numproc_line[3:5] == ["40", "40"]

    (row,) = hutch.json("stats", ctid)
    assert row["ctid"] == ctid
    assert row["memory"] > 0 and row["memory_limit"] == 64 << 20
    assert row["tasks"] >= 3 and row["tasks_limit"] == 40
    assert row["cpu_percent"] is not None and row["cpu_percent"] >= 0
    table = hutch.ok("stats").stdout.splitlines()
    assert table[0].split()[:3] == ["CTID", "CPU%", "MEM"]
    assert table[1].split()[0] == ctid and "64.0M" in table[1]

    (listed,) = hutch.json("list", "-o", "ctid,mem,tasks,numproc,memlimit,cpu,io")
    assert listed["mem"] > 0 and listed["tasks"] >= 3 and listed["numproc"] == 40
    assert listed["memlimit"] == 64 << 20 and listed["cpu"] >= 0
    lines = hutch.ok("list", "-o", "ctid,mem,tasks,numproc").stdout.splitlines()
    assert lines[0].split() == ["CTID", "MEM", "TASKS", "NUMPROC"]
    cells = lines[1].split()
    assert cells[0] == ctid and cells[1][-1] in "BKMG" and cells[3] == "40"


def test_accounting_verbs_name_what_is_wrong(hutch):
    ctid = hutch.create()
    assert "not running" in hutch.fails("beancounters", ctid, code=6)
    assert "not running" in hutch.fails("stats", ctid, code=6)
    hutch.fails("stats", "4711", code=4)
    # nothing running: an empty table, quickly (no sampling sleep)
    assert hutch.json("beancounters") == {}
    assert hutch.json("stats") == []
    (stopped,) = hutch.json("list", "-a", "-o", "ctid,mem,tasks")
    assert stopped == {"ctid": ctid, "mem": None, "tasks": None}
