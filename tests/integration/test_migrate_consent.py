"""A migration target takes no weakened confinement on the source's word (issue 12 item 9):
a config with cap_keep, seccomp off, privileged, extra devices, the host's network or host
ports is refused by the target's `hutch receive adopt`, unless the target's own operator
accepted those keys in its etc/hutch/hutch.toml (`[migrate] accept = [...]`)."""

from __future__ import annotations

import pytest
from test_migrate import Mig, accept, m, mig  # noqa: F401 - the rig's fixtures

pytestmark = pytest.mark.root


def _weakened(rig: Mig) -> str:
    ctid = rig.src.create()
    rig.src.ok("set", ctid, "--cap_keep", "CAP_SYS_TIME", "--seccomp", "unconfined", "--save")
    return ctid


def test_weakened_config_is_refused_without_the_targets_consent(m: Mig) -> None:  # noqa: F811
    ctid = _weakened(m)
    try:
        for accepted in ((), ("security.cap_keep",)):
            if accepted:
                accept(m, *accepted)
            p = m.migrate(ctid)
            assert p.returncode != 0, p.stdout
            last = p.stderr.strip().splitlines()[-1]
            assert f"container {ctid} is refused here" in last, p.stderr
            assert 'security.seccomp = "unconfined"' in last
            assert ("security.cap_keep" in last) == (not accepted)
            assert "migration undone" in last
            # here as it was; nothing there
            assert m.src.status(ctid) == "stopped"
            assert m.src.json("config", ctid)["security.cap_keep"] == ["CAP_SYS_TIME"]
            m.nothing_there(ctid)
        accept(m, "security.cap_keep", "security.seccomp")
        p = m.migrate(ctid)
        assert p.returncode == 0, p.stderr
        cfg = m.dst.json("config", ctid)
        assert (cfg["security.cap_keep"], cfg["security.seccomp"]) == (
            ["CAP_SYS_TIME"],
            "unconfined",
        )
        assert ctid not in m.src.container_ids()
    finally:
        accept(m)


def test_privileged_container_is_refused_and_all_accepts_it(m: Mig) -> None:  # noqa: F811
    ctid = m.src.new_id()
    m.src.ok("create", ctid, "--privileged")
    try:
        p = m.migrate(ctid)
        assert p.returncode != 0
        assert "security.privileged = true" in p.stderr.strip().splitlines()[-1], p.stderr
        m.nothing_there(ctid)
        accept(m, "all")
        p = m.migrate(ctid)
        assert p.returncode == 0, p.stderr
        assert m.dst.json("config", ctid)["security.privileged"] is True
    finally:
        accept(m)


def test_a_bad_host_settings_file_is_one_line(m: Mig) -> None:  # noqa: F811
    ctid = _weakened(m)
    path = m.dst.paths.etc / "hutch.toml"
    try:
        for text in ("[migrate\n", '[migrate]\naccept = "yes"\n', '[migrate]\naccept = ["x"]\n'):
            path.write_text(text)
            p = m.migrate(ctid)
            assert p.returncode != 0
            assert "hutch.toml" in p.stderr.strip().splitlines()[-1], p.stderr
            assert m.src.status(ctid) == "stopped"
            m.nothing_there(ctid)
    finally:
        path.unlink(missing_ok=True)
