"""What a `hutch set` asks for, turned into whole values: the list keys edited item by item
(`--ipadd`/`--ipdel` and the like, as vzctl's) and the keys fixed at create refused.

Pure: no kernel, no files. hutch.container.live applies the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hutch.config import KEY_BY_NAME, KEYS, ContainerConfig
from hutch.config.schema import FIXED_AT_CREATE
from hutch.errors import UsageError


def edited(
    current: ContainerConfig,
    saved: ContainerConfig,
    changes: Mapping[str, Any],
    add: Mapping[str, Sequence[str]],
    remove: Mapping[str, Sequence[str]],
    save: bool,
) -> dict[str, Any]:
    """`changes` (validated values by key name) plus the list keys that `add` and `remove`
    edit (CLI items by key name), each as its whole new value.

    Items are added to and removed from `current`, what the container runs with (or the
    saved file when it is stopped), after a whole value given in `changes`: so live changes
    build on each other. Removals go first. An item to add that is already there, or one to
    remove that is not, is a `UsageError`; except that with `save`, the value being written
    to the file, an item in `current` and not in `saved` may be added (it gets saved) and one
    in `saved` and not in `current` removed (it leaves the file)."""
    out = dict(changes)
    for name in set(add) | set(remove):
        key = KEY_BY_NAME.get(name)
        if key is None or not (key.add_flag or key.del_flag):
            raise UsageError(f"{name}: not a list setting that items can be added to")
    for key in KEYS:  # in the registry's order, as the flags are listed
        adds, dels = add.get(key.name, ()), remove.get(key.name, ())
        if not adds and not dels:
            continue
        items = list(out.get(key.name, current.get(key.name)) or ())
        in_file = list(saved.get(key.name) or ()) if save else []
        for token in dels:
            if token == "all":
                items = []
                continue
            kept = [i for i in items if not names(i, token)]
            if len(kept) == len(items) and not any(names(i, token) for i in in_file):
                raise UsageError(f"--{key.del_flag} {token}: no such item in {key.option}")
            items = kept
        for token in adds:
            try:
                parsed = key.parse(token)
            except ValueError as e:
                raise UsageError(f"--{key.add_flag}: {e}") from None
            for new in parsed:
                if any(same(new, old) for old in items):
                    if save and new in items and new not in in_file:
                        continue  # live only until now: --save keeps it
                    raise UsageError(f"--{key.add_flag} {token}: already there")
                items.append(new)
        try:
            out[key.name] = key.check(items)  # the whole list, checked as in a file
        except ValueError as e:
            raise UsageError(f"{key.option}: {e}") from None
    return out


def refuse_fixed(saved: ContainerConfig, changes: Mapping[str, Any]) -> None:
    """The keys chosen at create stay: the rootfs's owners follow them."""
    for name in FIXED_AT_CREATE:
        if name in changes and changes[name] != saved.get(name):
            raise UsageError(
                f"{KEY_BY_NAME[name].option}: chosen at create (the rootfs's owners follow it)",
                hint="create a new container with it",
            )


def names(item: str, token: str) -> bool:
    """Does a --*_del token name this list item? An address, an interface (its ifname=), a
    host NIC, or a forward (whole, or PROTO:HOSTPORT)."""
    if item == token:
        return True
    if item.startswith(f"ifname={token},") or item == f"ifname={token}":
        return True
    return item.startswith(f"{token}:")


def same(a: str, b: str) -> bool:
    """Are two items the same one of their list (an interface: the same ifname)?"""
    if a == b:
        return True
    if a.startswith("ifname="):
        return a.split(",")[0] == b.split(",")[0]
    return False
