"""Checks of issue 12 item 9: idmap_base inside root's subordinate ranges, ssh targets that
ssh would read as options, and the table of settings that weaken confinement."""

from __future__ import annotations

from pathlib import Path

import pytest

from hutch.config import KEYS, ContainerConfig
from hutch.config.weakening import SAFE, WEAKENS, is_safe, weakened
from hutch.errors import InvalidConfig, UsageError
from hutch.migrate.protocol import check_target
from hutch.security.idmap import SIZE, check_base

BASE = 1_000_000


def _files(tmp_path: Path, uid: str, gid: str) -> tuple[Path, Path]:
    (tmp_path / "subuid").write_text(uid)
    (tmp_path / "subgid").write_text(gid)
    return tmp_path / "subuid", tmp_path / "subgid"


def test_check_base_inside_both_ranges(tmp_path):
    u, g = _files(tmp_path, f"root:{BASE}:{4 * SIZE}\n", f"root:{BASE}:{4 * SIZE}\n")
    check_base(BASE, u, g)
    check_base(BASE + 3 * SIZE, u, g)  # the last whole block
    check_base(BASE + 17, u, g)  # not block-aligned, still root's


@pytest.mark.parametrize(
    "base",
    [1000, BASE - 1, BASE + 3 * SIZE + 1, BASE + 4 * SIZE, 1 << 31],
)
def test_check_base_outside_is_refused(tmp_path, base):
    u, g = _files(tmp_path, f"root:{BASE}:{4 * SIZE}\n", f"root:{BASE}:{4 * SIZE}\n")
    with pytest.raises(InvalidConfig, match=f"idmap_base {base}:.*subuid"):
        check_base(base, u, g)


def test_check_base_needs_both_files(tmp_path):
    u, g = _files(tmp_path, f"root:{BASE}:{SIZE}\n", f"root:{2 * BASE}:{SIZE}\n")
    with pytest.raises(InvalidConfig, match="subgid"):
        check_base(BASE, u, g)
    u, g = _files(tmp_path, f"someone:{BASE}:{SIZE}\n", f"root:{BASE}:{SIZE}\n")
    with pytest.raises(InvalidConfig, match="subuid"):
        check_base(BASE, u, g)
    (tmp_path / "subuid").unlink()
    with pytest.raises(InvalidConfig):
        check_base(BASE, u, g)


@pytest.mark.parametrize("ok", ["node2", "root@node2", "root@198.18.222.2", "[2001:db8::2]"])
def test_ssh_targets_accepted(ok):
    assert check_target(ok) == ok


@pytest.mark.parametrize(
    "bad",
    ["-oProxyCommand=touch /tmp/x", "-p22", "root@host ls", "a\tb", "host\n", "h\x1b[2J", ""],
)
def test_ssh_targets_refused(bad):
    with pytest.raises(UsageError):
        check_target(bad)


def test_every_key_is_classified_once():
    for key in KEYS:
        assert (key.name in WEAKENS) != is_safe(key.name), key.name
    names = {k.name for k in KEYS}
    for entry in [*WEAKENS, *(s for s in SAFE if not s.endswith("."))]:
        assert entry in names, f"{entry}: no such key"


def test_weakened_values():
    assert weakened(ContainerConfig(ctid="1")) == {}
    cfg = ContainerConfig(
        ctid="1",
        security_privileged=True,
        security_cap_keep=("CAP_SYS_ADMIN",),
        security_seccomp="unconfined",
        security_devices=("fuse",),
        security_cap_drop=("CAP_NET_RAW",),
        network_mode="host",
        network_forward=("tcp:22:22",),
    )
    assert weakened(cfg) == {
        "security.privileged": True,
        "security.cap_keep": ["CAP_SYS_ADMIN"],
        "security.seccomp": "unconfined",
        "security.devices": ["fuse"],
        "network.mode": "host",
        "network.forward": ["tcp:22:22"],
    }
