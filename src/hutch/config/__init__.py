"""Container configuration: the key registry, the typed config and its TOML file.

    KEYS / KEY_BY_NAME / KEY_BY_FLAG   the registry: one `Key` per config key
    ContainerConfig                    a container's validated config (frozen)
    load, validate_text                read config.toml (stdlib tomllib only: fast)
    save_changes, render_new           write it (tomlkit, imported on first write)
    values                             the typed values of pairs and IO rules

Values are typed once where they come in (`Key.check` for TOML and JSON, `Key.parse` for
the command line, `Key.accept` for the library: any of those or the typed value itself);
`Key.render` writes one back as text that reads to the same value.

Errors are `hutch.errors` classes: `InvalidConfig("<file>:<line>: <key>: <reason>")`,
`NotFound` for a missing file, `UsageError` from `Key.from_cli`.
"""

from hutch.config.schema import (
    KEY_BY_FLAG,
    KEY_BY_NAME,
    KEYS,
    ContainerConfig,
    Key,
    signal_number,
)
from hutch.config.tomlfile import FILENAME, load, render_new, save_changes, validate_text

__all__ = [
    "FILENAME",
    "KEYS",
    "KEY_BY_FLAG",
    "KEY_BY_NAME",
    "ContainerConfig",
    "Key",
    "load",
    "render_new",
    "save_changes",
    "signal_number",
    "validate_text",
]
