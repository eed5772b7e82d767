"""Container IDs and the one-root path layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from hutch import ids
from hutch.container.ctid import valid_id
from hutch.errors import UsageError
from hutch.paths import Paths


@pytest.mark.parametrize("good", ["101", "web-1", "a", "db_2.prod", "9" * 32])
def test_valid_ids(good):
    assert ids.validate(good) == good


@pytest.mark.parametrize(
    "bad", ["", "../x", "a/b", "..", ".hidden", "-x", "a..b", "x" * 33, "a b", "é", "a\0b"]
)
def test_invalid_ids(bad):
    with pytest.raises(ids.InvalidId) as refused:
        ids.validate(bad)
    # the library's edge reports it as a UsageError with the same message and hint
    with pytest.raises(UsageError) as usage:
        valid_id(bad)
    assert (usage.value.message, usage.value.hint) == (refused.value.message, refused.value.hint)


def test_an_invalid_id_says_what_an_id_may_be():
    with pytest.raises(UsageError, match=r"invalid container ID '\.\./x'") as usage:
        valid_id("../x")
    assert usage.value.hint and "a number such as 101" in usage.value.hint


def test_numeric_ids_sort_numerically_before_names():
    assert sorted(["web", "101", "9", "1000", "abc"], key=ids.sort_key) == [
        "9",
        "101",
        "1000",
        "abc",
        "web",
    ]


def test_every_path_is_under_the_root(tmp_path):
    p = Paths(tmp_path)
    for path in (
        p.etc,
        p.lib,
        p.run,
        p.log,
        p.cache,
        p.socket,
        p.ct_config("101"),
        p.ct_state("101"),
        p.ct_console_log("101"),
        p.templates,
    ):
        assert Path(path).is_relative_to(tmp_path)


def test_default_root_uses_the_fhs_and_plain_cgroup_name():
    p = Paths(Path("/"))
    assert p.lib == Path("/var/lib/hutch") and p.run == Path("/run/hutch")
    assert p.cgroup_name == "hutch"


def test_other_roots_get_their_own_cgroup_subtree(tmp_path):
    a, b = Paths(tmp_path / "a"), Paths(tmp_path / "b")
    assert a.cgroup_name.startswith("hutch-") and a.cgroup_name != b.cgroup_name


def test_root_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HUTCH_ROOT", str(tmp_path))
    assert Paths.from_env().root == tmp_path
    assert Paths.from_env(str(tmp_path / "x")).root == tmp_path / "x"
