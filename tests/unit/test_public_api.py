"""Public names are deliberate: each package's __all__ is what it exports, and exists."""

from __future__ import annotations

import importlib

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
