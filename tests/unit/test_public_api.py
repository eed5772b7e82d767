"""Public names are deliberate: each package's __all__ is what it exports, and exists."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["hutch.linux", "hutch.cgroups", "hutch.config"])
def test_all_names_exist(module):
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names missing {name}"
    assert len(set(mod.__all__)) == len(mod.__all__)


def test_error_classes_have_distinct_exit_codes():
    from hutch import errors

    classes = [
        errors.UsageError,
        errors.InvalidConfig,
        errors.NotFound,
        errors.AlreadyExists,
        errors.StateConflict,
        errors.KernelFeatureMissing,
        errors.DaemonError,
        errors.OperationFailed,
    ]
    codes = [c.exit_code for c in classes]
    assert len(set(codes)) == len(codes) and 0 not in codes
    assert all(issubclass(c, errors.HutchError) for c in classes)


def test_hutch_all_is_deliberate():
    """Every name in hutch.__all__ exists, is documented and public; the rest of the
    package's namespace is private or a submodule."""
    import types

    import hutch

    assert len(set(hutch.__all__)) == len(hutch.__all__)
    for name in hutch.__all__:
        assert not name.startswith("_") or name == "__version__", name
        obj = getattr(hutch, name)
        if name != "__version__":
            doc = obj.__doc__ or ""
            # a dataclass without a docstring gets its signature as one: not documentation
            assert doc.strip() and not doc.startswith(f"{name}("), f"hutch.{name} has no docstring"
            assert obj.__module__.startswith("hutch."), name
            assert not any(p.startswith("_") for p in obj.__module__.split(".")), name
    for name, value in vars(hutch).items():
        if name.startswith("_") or name in hutch.__all__:
            continue
        assert isinstance(value, types.ModuleType), f"hutch.{name} leaks (not in __all__)"
    assert set(hutch.__all__) <= set(dir(hutch))


def test_hutch_names_are_loaded_lazily():
    """`import hutch` (which every hutch.* import runs) loads none of the library."""
    code = (
        "import sys, hutch; print(sorted(m for m in sys.modules if m.startswith('hutch')));"
        "hutch.Host; print('hutch.container.host' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    lines = r.stdout.splitlines()
    assert lines == ["['hutch']", "True"], r


def test_unknown_name_is_an_attribute_error():
    import hutch

    with pytest.raises(AttributeError):
        hutch.NoSuchThing  # noqa: B018


def test_results_are_frozen():
    import dataclasses

    import hutch

    for name in ("ExecResult", "Stats", "StartResult", "CheckpointResult", "RestoreResult"):
        cls = getattr(hutch, name)
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, name
    assert {s.value for s in hutch.Status} >= {"stopped", "running", "frozen"}


def test_set_keywords_map_to_config_keys():
    from hutch.container.container import keyword_changes
    from hutch.errors import UsageError

    changes, add, remove = keyword_changes({"memory": "300M", "cpus": 2, "hostname": "web1"})
    assert set(changes) == {"resources.memory", "resources.cpus", "hostname"}
    assert add == remove == {}
    assert keyword_changes({"stop_timeout": "5"})[0] == {"stop_timeout": 5}
    assert "resources.memory" in keyword_changes({"resources_memory": "1G"})[0]
    # a list key's add and delete flags become items for the library to edit the list with
    _, add, remove = keyword_changes({"ipadd": ["198.18.60.5", "198.18.60.6"], "ipdel": "all"})
    assert add == {"network.ip_address": ["198.18.60.5", "198.18.60.6"]}
    assert remove == {"network.ip_address": ["all"]}
    with pytest.raises(UsageError):
        keyword_changes({"no_such_key": 1})
    with pytest.raises(UsageError):
        keyword_changes({"memory": "lots"})


def test_host_without_containers(tmp_path):
    import hutch
    from hutch.paths import Paths

    host = hutch.Host(root=tmp_path)
    assert host.root == tmp_path and host.containers() == []
    assert hutch.Host(paths=Paths(tmp_path)).paths == host.paths
    with pytest.raises(hutch.NotFound, match="container 101 does not exist"):
        host.get("101")
    with pytest.raises(hutch.UsageError):
        host.get("../x")
    with pytest.raises(hutch.UsageError):
        hutch.Host(root=tmp_path, paths=Paths(tmp_path))
    with pytest.raises(hutch.UsageError, match="unknown setting"):
        host.create("101", no_such_setting=1)
    assert not (tmp_path / "var").exists(), "a refused create left files"
