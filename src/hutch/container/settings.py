"""What a `hutch set` asks for, turned into whole values: the list keys edited item by item
(`--ipadd`/`--ipdel` and the like, as vzctl's) and the keys fixed at create refused.

Pure: no kernel, no files. hutch.container.live applies the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from hutch.config import KEY_BY_NAME, KEYS, ContainerConfig
from hutch.config.schema import FIXED_AT_CREATE
from hutch.errors import UsageError
from hutch.network.spec import Forward, Netif


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
            out[key.name] = key.accept(tuple(items))  # the whole list, checked as in a file
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


def names(item: object, token: str) -> bool:
    """Does a --*_del token name this list item? An address (by value), an interface (its
    ifname, or the whole of it), a host NIC, or a forward (whole, or PROTO:HOSTPORT)."""
    if isinstance(item, Netif):
        return token in (item.ifname, item.to_text())
    if isinstance(item, Forward):
        hostport = f"{item.proto}:{item.host_port}"
        return token in (item.to_text(), hostport, f"{hostport}:{item.ct_port}")
    if isinstance(item, (IPv4Address, IPv6Address)):
        try:
            return item == ip_address(token)
        except ValueError:
            return False
    return item == token


def same(a: object, b: object) -> bool:
    """Are two items the same one of their list (an interface: the same ifname)?"""
    if isinstance(a, Netif) and isinstance(b, Netif):
        return a.ifname == b.ifname
    return a == b
