"""list (vzlist layout), status, config: what they show matches the kernel."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def two(hutch_root) -> tuple[str, str]:
    """A running container and a stopped one."""
    up = hutch_root.running(hostname="up.example")
    down = hutch_root.create(hostname="down.example")
    return up, down


def _table(out: str) -> tuple[list[str], dict[str, list[str]]]:
    lines = out.splitlines()
    header = lines[0].split()
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    return header, rows


def test_list_shows_running_ones_in_vzlist_columns(hutch, two):
    up, _ = two
    header, rows = _table(hutch.ok("list").stdout)
    assert header == ["CTID", "NPROC", "STATUS", "IP_ADDR", "HOSTNAME", "IDMAP"]
    assert set(rows) == {up}
    _, nproc, status, ip, hostname, idmap = rows[up]
    assert (status, ip, hostname, idmap) == ("running", "-", "up.example", "shared")
    # NPROC is what the kernel counts in the container's cgroup
    procs = (hutch.cgroup_dirs(up)[0] / "ct/cgroup.procs").read_text().split()
    assert int(nproc) == len(procs) >= 2  # init and syslogd at least


def test_list_all_shows_stopped_ones(hutch, two):
    up, down = two
    _, rows = _table(hutch.ok("list", "-a").stdout)
    assert set(rows) == {up, down}
    assert rows[down][1:] == ["0", "stopped", "-", "down.example", "shared"]
    _, rows = _table(hutch.ok("list", "-S").stdout)
    assert set(rows) == {down}


def test_list_columns_and_json(hutch, two):
    up, down = two
    out = hutch.ok("list", "-a", "-o", "ctid,status").stdout.splitlines()
    assert out[0].split() == ["CTID", "STATUS"]
    assert sorted(line.split() for line in out[1:]) == sorted([[up, "running"], [down, "stopped"]])
    assert hutch.ok("list", "-a", "-H", "-o", "ctid").stdout.split() == sorted([up, down], key=int)
    data = hutch.json("list", "-a")
    assert {d["ctid"]: d["status"] for d in data} == {up: "running", down: "stopped"}
    assert set(data[0]) == {"ctid", "nproc", "status", "ip", "hostname", "idmap"}
    data = hutch.json("list", "-a", "-o", "ctid,pid,hostname")
    pids = {d["ctid"]: d["pid"] for d in data}
    assert pids == {up: hutch.init_pid(up), down: None}


def test_list_unknown_column_is_a_usage_error(hutch, two):
    assert "unknown column" in hutch.fails("list", "-o", "ctid,bogus", code=2)


def test_status(hutch, two):
    up, down = two
    pid = hutch.init_pid(up)
    assert hutch.ok("status", up).stdout == f"CTID {up} exist running pid {pid}\n"
    assert hutch.ok("status", down).stdout == f"CTID {down} exist stopped\n"
    info = hutch.json("status", up)
    assert (info["status"], info["pid"], info["hostname"]) == ("running", pid, "up.example")
    assert info["nproc"] >= 2 and info["uptime"] >= 0
    assert hutch.json("status", down)["pid"] is None


def test_config_json(hutch, two):
    up, _ = two
    cfg = hutch.json("config", up)
    assert cfg["ctid"] == up
    assert cfg["hostname"] == "up.example"
    assert cfg["template"] == "busybox"
    assert cfg["init"] == ["/sbin/init"]
    text = hutch.ok("config", up).stdout
    assert 'hostname = "up.example"' in text
    assert str(hutch.paths.ct_config(up)) in text.splitlines()[0]


def test_list_of_an_empty_root(tmp_path, hutch):
    empty = type(hutch)(tmp_path / "empty")  # another root, nothing in it
    assert empty.ok("list", "-a").stdout.splitlines() == [
        "      CTID NPROC  STATUS    IP_ADDR         HOSTNAME             IDMAP"
    ]
    assert empty.json("list", "-a") == []
    assert not (tmp_path / "empty").exists() or not empty.cgroup_dirs()


def test_privileged_and_isolated_containers_stand_out(hutch):
    """--privileged is an opt-in that list and status show; --idmap isolated too."""
    priv = hutch.new_id()
    hutch.ok("create", priv, "--privileged")
    iso = hutch.new_id()
    hutch.ok("create", iso, "--idmap", "isolated")
    rows = {d["ctid"]: d["idmap"] for d in hutch.json("list", "-a", "-o", "ctid,idmap")}
    assert (rows[priv], rows[iso]) == ("privileged", "isolated")
    assert hutch.ok("status", priv).stdout == f"CTID {priv} exist stopped privileged\n"
    assert hutch.ok("status", iso).stdout == f"CTID {iso} exist stopped\n"
    pid = hutch.start(priv)
    assert hutch.ok("status", priv).stdout == f"CTID {priv} exist running pid {pid} privileged\n"
    _, rows2 = _table(hutch.ok("list").stdout)
    assert rows2[priv][-1] == "privileged"
    hutch.ok("stop", "--kill", priv)
    for ctid in (priv, iso):
        hutch.ok("destroy", ctid)
