"""hutch.config: the key registry, parsing, config.toml load/save/render."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import hutch.config
from hutch.config import (
    KEY_BY_FLAG,
    KEY_BY_NAME,
    KEYS,
    ContainerConfig,
    load,
    render_new,
    save_changes,
    signal_number,
    validate_text,
)
from hutch.config.schema import _check_registry
from hutch.errors import InvalidConfig, NotFound, UsageError

SRC = Path(__file__).resolve().parents[2] / "src"


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- registry ----------------------------------------------------------------------------


def test_public_api_is_deliberate() -> None:
    assert sorted(hutch.config.__all__) == [
        "ContainerConfig",
        "FILENAME",
        "KEYS",
        "KEY_BY_FLAG",
        "KEY_BY_NAME",
        "Key",
        "load",
        "render_new",
        "save_changes",
        "signal_number",
        "validate_text",
    ]


def test_registry_matches_dataclass() -> None:
    _check_registry()
    defaults = {f.name: f.default for f in dataclasses.fields(ContainerConfig)}
    for key in KEYS:
        assert defaults[key.attr] == key.default, key.name
        assert KEY_BY_NAME[key.name] is key and KEY_BY_FLAG[key.flag] is key
        assert key.help and "e.g." in key.help and "\n" not in key.help


def test_defaults() -> None:
    cfg = ContainerConfig.from_values("101", {})
    assert cfg == ContainerConfig(ctid="101")
    assert cfg.effective_hostname == "101"
    core = {k: v for k, v in cfg.to_dict().items() if "." not in k}
    # resources: unlimited; network: a private namespace with loopback only
    assert all(v is None for k, v in cfg.to_dict().items() if k.startswith(("resources.", "ubc.")))
    assert cfg.network_mode == "private" and cfg.network_netif == ()
    assert core == {
        "ctid": "101",
        "hostname": "101",
        "template": None,
        "init": ["/sbin/init"],
        "stop_signal": None,
        "stop_timeout": 60,
        "onboot": False,
        "description": "",
        "environment": [],
    }
    assert cfg.values()["hostname"] is None


def test_live_keys() -> None:
    live = {key.name for key in KEYS if key.live and "." not in key.name}
    assert live == {"hostname", "stop_timeout", "onboot", "description"}
    # every resource limit and beancounter can change on a running container
    assert all(key.live for key in KEYS if key.name.startswith(("resources.", "ubc.")))


def test_with_changes() -> None:
    cfg = ContainerConfig.from_values("101", {"hostname": "a", "onboot": True})
    changed = cfg.with_changes({"hostname": None, "init": ["/bin/sh"]})
    assert changed.hostname is None and changed.onboot is True
    assert changed.init == ("/bin/sh",)  # lists are stored as tuples: frozen all the way
    hash(changed)


# -- parsing each key ------------------------------------------------------------------


def parse(name: str, text: str) -> object:
    return KEY_BY_NAME[name].parse(text)


@pytest.mark.parametrize(
    "text", ["web", "web1.example.com", "a-b.c-d", "1host", "x" * 63, ".".join(["a" * 31] * 2)]
)
def test_hostname_good(text: str) -> None:
    assert parse("hostname", text) == text


@pytest.mark.parametrize(
    "text", ["-x", "x-", "a..b", ".a", "a.", "a_b", "a b", "", "x" * 65, "x" * 64 + ".a", "é"]
)
def test_hostname_bad(text: str) -> None:
    with pytest.raises(ValueError):
        parse("hostname", text)


def test_hostname_64_is_max() -> None:
    name = "a" * 31 + "." + "b" * 32
    assert parse("hostname", name) == name
    with pytest.raises(ValueError, match="longer than 64"):
        parse("hostname", name + "c")


def test_template() -> None:
    assert parse("template", "debian-12-amd64") == "debian-12-amd64"
    for bad in ["", "../etc", "a/b", "a b", "-x"]:
        with pytest.raises(ValueError):
            parse("template", bad)


def test_init() -> None:
    assert parse("init", "/sbin/init") == ("/sbin/init",)
    assert parse("init", "/bin/sh -c 'echo hi; sleep 1'") == ("/bin/sh", "-c", "echo hi; sleep 1")
    for bad, reason in [("", "empty"), ("sbin/init", "absolute"), ("/bin/sh 'x", "quotation")]:
        with pytest.raises(ValueError, match=reason):
            parse("init", bad)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("SIGUSR2", "SIGUSR2"),
        ("USR2", "SIGUSR2"),
        ("sigterm", "SIGTERM"),
        ("SIGRTMIN+4", "SIGRTMIN+4"),
        ("rtmin+3", "SIGRTMIN+3"),
        ("SIGRTMIN+0", "SIGRTMIN"),
        ("SIGRTMAX-2", "SIGRTMAX-2"),
        ("SIGCLD", "SIGCHLD"),
        ("auto", None),
    ],
)
def test_stop_signal_good(text: str, want: str | None) -> None:
    assert parse("stop_signal", text) == want


@pytest.mark.parametrize(
    "text", ["SIGFOO", "", "15", "SIGRTMIN+99", "SIGRTMIN-1", "SIGRTMAX+1", "SIGKILL", "STOP"]
)
def test_stop_signal_bad(text: str) -> None:
    with pytest.raises(ValueError):
        parse("stop_signal", text)


def test_signal_number() -> None:
    assert signal_number("SIGTERM") == signal.SIGTERM
    assert signal_number("SIGRTMIN+4") == signal.SIGRTMIN + 4
    assert signal_number("SIGRTMAX-1") == signal.SIGRTMAX - 1
    assert signal_number("SIGRTMIN") == signal.SIGRTMIN


def test_stop_timeout() -> None:
    assert parse("stop_timeout", "0") == 0
    assert parse("stop_timeout", "90") == 90
    assert parse("stop_timeout", "90s") == 90
    assert parse("stop_timeout", "2m") == 120
    assert parse("stop_timeout", "1h") == 3600
    for bad, reason in [
        ("-1", "0 or more"),
        ("1.5", "duration"),
        ("soon", "duration"),
        ("", "duration"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse("stop_timeout", bad)


def test_onboot() -> None:
    for text in ["yes", "YES", "true", "on", "1"]:
        assert parse("onboot", text) is True
    for text in ["no", "false", "Off", "0"]:
        assert parse("onboot", text) is False
    for bad in ["", "maybe", "2", "y"]:
        with pytest.raises(ValueError):
            parse("onboot", bad)


def test_description_and_environment() -> None:
    assert parse("description", "mail relay") == "mail relay"
    with pytest.raises(ValueError):
        parse("description", "a\0b")
    assert parse("environment", "TZ=UTC 'MOTD=hello world' EMPTY=") == (
        "TZ=UTC",
        "MOTD=hello world",
        "EMPTY=",
    )
    for bad, reason in [("TZ", "NAME=VALUE"), ("1X=a", "NAME=VALUE"), ("A=1 A=2", "twice")]:
        with pytest.raises(ValueError, match=reason):
            parse("environment", bad)


def test_from_cli_raises_usage_error() -> None:
    with pytest.raises(UsageError, match=r"^--stop-timeout: must be 0 or more seconds, got -5$"):
        KEY_BY_FLAG["stop-timeout"].from_cli("-5")
    assert KEY_BY_FLAG["onboot"].from_cli("yes") is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("hostname", 5),
        ("init", "/sbin/init"),
        ("init", ["/sbin/init", 3]),
        ("stop_timeout", True),
        ("stop_timeout", 1.5),
        ("stop_timeout", "60"),
        ("onboot", 1),
        ("onboot", "yes"),
        ("environment", "A=1"),
        ("stop_signal", 15),
    ],
)
def test_check_rejects_wrong_toml_types(name: str, value: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        KEY_BY_NAME[name].check(value)


# -- load ------------------------------------------------------------------------------


FULL = """\
hostname = "web1.example.com"
template = "debian-12-amd64"
init = ["/lib/systemd/systemd", "--log-level=info"]
stop_signal = "rtmin+3"
stop_timeout = 30
onboot = true
description = "web server"
environment = ["TZ=UTC"]
"""


def test_load_full(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, FULL), "101")
    assert cfg == ContainerConfig(
        ctid="101",
        hostname="web1.example.com",
        template="debian-12-amd64",
        init=("/lib/systemd/systemd", "--log-level=info"),
        stop_signal="SIGRTMIN+3",
        stop_timeout=30,
        onboot=True,
        description="web server",
        environment=("TZ=UTC",),
    )


def test_load_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load(write(tmp_path, "# nothing\n"), "web") == ContainerConfig(ctid="web")


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"config\.toml not found"):
        load(tmp_path / "config.toml", "101")


def test_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, '# c\nhostname = "a"\nonboot = yes\n')
    with pytest.raises(InvalidConfig) as exc:
        load(path, "101")
    assert str(exc.value) == f"{path}:3: Invalid value (column 10)"


def test_syntax_error_at_end(tmp_path: Path) -> None:
    path = write(tmp_path, 'hostname = "a"\ninit = ["/sbin/init",\n')
    with pytest.raises(InvalidConfig, match=r"config.toml:2: "):
        load(path, "101")


def test_bad_value_names_line(tmp_path: Path) -> None:
    text = '# my box\n\nhostname = "web"\n\nstop_timeout = -1  # oops\n'
    path = write(tmp_path, text)
    with pytest.raises(InvalidConfig) as exc:
        load(path, "101")
    assert str(exc.value) == f"{path}:5: stop_timeout: must be 0 or more seconds, got -1"


def test_bad_value_in_multiline_array(tmp_path: Path) -> None:
    text = 'description = """\nonboot = 1\n"""\ninit = [\n  "/sbin/init",\n]\nonboot = 1\n'
    with pytest.raises(InvalidConfig, match=r"^c.toml:7: onboot: expected true or false"):
        validate_text(text, "c.toml")


@pytest.fixture
def limits_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register a key in a [limits] table, as resources.* will be, for one test."""
    from hutch.config import schema, tomlfile

    key = dataclasses.replace(KEY_BY_NAME["stop_timeout"], name="limits.cpus", flag="cpus")
    monkeypatch.setattr(schema, "KEYS", (*schema.KEYS, key))
    monkeypatch.setattr(tomlfile, "KEYS", (*schema.KEYS, key))
    monkeypatch.setitem(schema.KEY_BY_NAME, key.name, key)
    monkeypatch.setattr(tomlfile, "TABLES", frozenset({"limits"}))


@pytest.mark.usefixtures("limits_table")
def test_unknown_key_inside_table(tmp_path: Path) -> None:
    text = 'hostname = "web"\n\n[limits]\ncpus = 2\n# memory\nmemory = "1G"\n'
    path = write(tmp_path, text)
    with pytest.raises(InvalidConfig) as exc:
        load(path, "101")
    assert str(exc.value) == f"{path}:6: limits.memory: unknown key"


@pytest.mark.usefixtures("limits_table")
def test_key_errors_inside_tables() -> None:
    with pytest.raises(InvalidConfig, match=r"^x:4: limits.cpus: must be 0 or more"):
        validate_text("onboot = true\n\n[limits]\ncpus = -4\n", "x")
    with pytest.raises(InvalidConfig, match=r"^x:2: limits.cpus: must be 0 or more"):
        validate_text('onboot = true\n"limits" . cpus = -1\n', "x")
    with pytest.raises(InvalidConfig, match=r"^x:2: limits.mem: unknown key$"):
        validate_text('onboot = true\nlimits = { cpus = 1, mem = "1G" }\n', "x")
    with pytest.raises(InvalidConfig, match=r"^x:1: limits: must be a table such as \[limits\]$"):
        validate_text("limits = 3\n", "x")


def test_unknown_table() -> None:
    with pytest.raises(InvalidConfig, match=r"^x:3: networks: unknown table"):
        validate_text('onboot = true\n\n[networks]\nmode = "venet"\n', "x")
    with pytest.raises(InvalidConfig, match=r"^x:2: networks: unknown table"):
        validate_text('onboot = true\nnetworks.mode = "venet"\n', "x")
    with pytest.raises(InvalidConfig, match=r"^x:4: network.mode: "):
        validate_text('onboot = true\n\n[network]\nmode = "venet"\n', "x")
    with pytest.raises(InvalidConfig, match=r"^x:2: net: unknown table$"):
        validate_text("onboot = true\n[net]\n", "x")
    with pytest.raises(InvalidConfig, match=r"^x:1: a: unknown table$"):
        validate_text("[a.b]\n", "x")


def test_unknown_key_suggests() -> None:
    with pytest.raises(InvalidConfig, match=r"^x:1: stop_timout: unknown key \(did you mean"):
        validate_text("stop_timout = 5\n", "x")


def test_first_problem_by_line_is_reported() -> None:
    with pytest.raises(InvalidConfig, match=r"^x:2: onboot: "):
        validate_text('hostname = "ok"\nonboot = 2\nstop_timeout = -1\n', "x")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'onboot = true\ndescription = "\xff"\n')
    with pytest.raises(InvalidConfig, match=r"config.toml:2: not valid UTF-8"):
        load(path, "101")


def test_validate_text_returns_present_values() -> None:
    assert validate_text('onboot = true\nstop_signal = "usr2"\n') == {
        "onboot": True,
        "stop_signal": "SIGUSR2",
    }


# -- save_changes ------------------------------------------------------------------------


ORIGINAL = """\
# hutch container 101 -- edited by hand
hostname = "web"   # the public name

# how to stop it
stop_signal = "SIGRTMIN+3"
stop_timeout = 60

description = "before"
"""


def test_save_changes_keeps_everything_else(tmp_path: Path) -> None:
    path = write(tmp_path, ORIGINAL)
    save_changes(path, {"hostname": "mail", "stop_timeout": 120})
    assert path.read_text() == ORIGINAL.replace('"web"', '"mail"').replace("60", "120")


def test_save_changes_appends_new_keys_and_removes(tmp_path: Path) -> None:
    path = write(tmp_path, ORIGINAL)
    save_changes(path, {"onboot": True, "init": ("/bin/sh", "-l")}, remove={"stop_signal"})
    assert path.read_text() == (
        "# hutch container 101 -- edited by hand\n"
        'hostname = "web"   # the public name\n'
        "\n"
        "# how to stop it\n"
        "stop_timeout = 60\n"
        "\n"
        'description = "before"\n'
        "onboot = true\n"
        'init = ["/bin/sh", "-l"]\n'
    )
    assert load(path, "101").init == ("/bin/sh", "-l")


def test_save_changes_none_removes(tmp_path: Path) -> None:
    path = write(tmp_path, ORIGINAL)
    save_changes(path, {"hostname": None})
    assert load(path, "101").effective_hostname == "101"
    assert "the public name" not in path.read_text()


def test_save_changes_refuses_to_write_an_invalid_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'hostname = "web"\n\n[extra]\n')
    with pytest.raises(InvalidConfig, match="unknown table"):
        save_changes(path, {"onboot": True})  # invalid before: hand-edit it, then save
    assert path.read_text() == 'hostname = "web"\n\n[extra]\n'


@pytest.mark.usefixtures("limits_table")
def test_save_changes_into_table(tmp_path: Path) -> None:
    path = write(tmp_path, "onboot = true\n\n[limits]\n# two\ncpus = 2\n")
    save_changes(path, {"limits.cpus": 4, "stop_timeout": 5})
    assert path.read_text() == "onboot = true\nstop_timeout = 5\n\n[limits]\n# two\ncpus = 4\n"
    path = write(tmp_path, "onboot = true\n")
    save_changes(path, {"limits.cpus": 4})
    assert path.read_text() == "onboot = true\n\n[limits]\ncpus = 4\n"
    save_changes(path, {"stop_timeout": 9})
    assert path.read_text() == "onboot = true\nstop_timeout = 9\n\n[limits]\ncpus = 4\n"


def test_save_changes_is_atomic_when_value_cannot_be_written(tmp_path: Path) -> None:
    path = write(tmp_path, ORIGINAL)
    before = os.stat(path)
    with pytest.raises(InvalidConfig, match=r"config.toml: description: cannot write"):
        save_changes(path, {"onboot": True, "description": object()})
    assert path.read_text() == ORIGINAL
    assert os.stat(path).st_ino == before.st_ino
    assert sorted(os.listdir(tmp_path)) == ["config.toml"]  # no temporary file left


def test_save_changes_refuses_a_result_that_would_not_load(tmp_path: Path) -> None:
    path = write(tmp_path, ORIGINAL)
    with pytest.raises(InvalidConfig, match=r"config.toml:\d+: stop_timeout: "):
        save_changes(path, {"stop_timeout": -3})
    assert path.read_text() == ORIGINAL


def test_save_changes_keeps_mode_and_follows_symlink(tmp_path: Path) -> None:
    real = write(tmp_path, ORIGINAL, "real.toml")
    os.chmod(real, 0o640)
    link = tmp_path / "config.toml"
    link.symlink_to("real.toml")
    save_changes(link, {"onboot": True})
    assert link.is_symlink()
    assert os.stat(real).st_mode & 0o7777 == 0o640
    assert load(link, "101").onboot is True
    assert sorted(os.listdir(tmp_path)) == ["config.toml", "real.toml"]


def test_save_changes_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        save_changes(tmp_path / "config.toml", {"onboot": True})
    path = write(tmp_path, ORIGINAL)
    with pytest.raises(InvalidConfig, match="nosuch: unknown key"):
        save_changes(path, {"nosuch": 1})
    path = write(tmp_path, "a = 1\nb = = 2\n")
    with pytest.raises(InvalidConfig, match=r"config.toml:2: "):
        save_changes(path, {"onboot": True})


def test_save_unchanged_does_not_rewrite(tmp_path: Path) -> None:
    path = write(tmp_path, ORIGINAL)
    ino = os.stat(path).st_ino
    save_changes(path, {"hostname": "web"})
    assert os.stat(path).st_ino == ino


# -- render_new --------------------------------------------------------------------------


def test_render_new() -> None:
    text = render_new(
        "101",
        {"template": "debian-12-amd64", "onboot": True, "stop_timeout": 60, "init": ["/sbin/init"]},
    )
    assert text == (
        "# hutch container 101\n"
        "# Edit this file, or change a key: hutch set 101 --onboot yes --save\n"
        "\n"
        '# hostname = "101"  # unset: the container ID\n'
        'template = "debian-12-amd64"\n'
        "onboot = true\n"
    )


def test_render_new_round_trips() -> None:
    cfg = ContainerConfig(
        ctid="web",
        hostname="web.example.com",
        init=("/bin/sh", "-c", 'echo "hi"\n\tthere'),
        stop_signal="SIGUSR2",
        stop_timeout=0,
        description='quotes " and \\ and é',
        environment=("A=1", "B= x "),
    )
    text = render_new("web", cfg.values())
    assert text.startswith("# hutch container web\n")
    assert ContainerConfig.from_values("web", validate_text(text)) == cfg


def test_render_then_save_then_load(tmp_path: Path) -> None:
    path = write(tmp_path, render_new("7", {"hostname": "seven"}))
    save_changes(path, {"description": "lucky"})
    assert load(path, "7").to_dict()["description"] == "lucky"
    assert path.read_text().endswith('hostname = "seven"\ndescription = "lucky"\n')


# -- start-up cost ---------------------------------------------------------------------


def test_import_does_not_load_tomlkit() -> None:
    lazy = ["tomlkit", "shlex", "difflib", "tempfile"]
    code = f"import sys, hutch.config; print(*[m in sys.modules for m in {lazy!r}])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["False"] * len(lazy)
