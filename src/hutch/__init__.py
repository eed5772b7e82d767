"""hutch: system containers for Linux.

The library is `hutch.Host` and `hutch.Container` (docs/python-api.md):

    import hutch

    host = hutch.Host()                  # the host under / (or $HUTCH_ROOT)
    ct = host.create("101", template="busybox")
    ct.start()
    print(ct.exec(["hostname"]).stdout)  # b'101\\n'
    ct.stop()
    ct.destroy()

Results are frozen dataclasses and enums; every error a person can cause is a `HutchError`.
`hutch.cli` and `hutch.daemon` are the only entry points that print, exit or parse argv
(see ARCHITECTURE.md).

The names are loaded on first use (PEP 562), so `import hutch`, which every `hutch.*`
module import runs, stays as cheap as the CLI's hot verbs need.
"""

__version__ = "0.1.0"

# public name -> the module that defines it
_WHERE = {
    "Host": "hutch.container.host",
    "Container": "hutch.container.container",
    "ExecProcess": "hutch.container.container",
    "Snapshots": "hutch.container.container",
    "Status": "hutch.container.results",
    "Shutdown": "hutch.container.results",
    "StartResult": "hutch.container.results",
    "ExecResult": "hutch.container.results",
    "Stats": "hutch.container.results",
    "CheckpointResult": "hutch.container.results",
    "RestoreResult": "hutch.container.results",
    "SetResult": "hutch.container.results",
    "MigrationResult": "hutch.migrate.protocol",
    "Beancounter": "hutch.container.beancounters",
    "Usage": "hutch.container.disk",
    "ContainerConfig": "hutch.config",
    "Snapshot": "hutch.storage.snapshots",
    "TemplateInfo": "hutch.storage.cache",
    "Check": "hutch.host.features",
    "HutchError": "hutch.errors",
    "UsageError": "hutch.errors",
    "InvalidConfig": "hutch.errors",
    "NotFound": "hutch.errors",
    "AlreadyExists": "hutch.errors",
    "StateConflict": "hutch.errors",
    "KernelFeatureMissing": "hutch.errors",
    "DaemonError": "hutch.errors",
    "OperationFailed": "hutch.errors",
}

__all__ = ["__version__", *_WHERE]


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hutch' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    if name in ("Host", "Container"):
        # this package is where the layers are put together: Container.migrate() is
        # carried out by hutch.migrate, above hutch.container, which registers itself
        importlib.import_module("hutch.migrate")
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
