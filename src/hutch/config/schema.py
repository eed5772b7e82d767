"""The registry of container config keys and the typed config built from it.

Every key a container has is one `Key` entry in `KEYS`: its TOML name, its `set` flag, how a
command-line string is parsed, how a value read from config.toml is checked, how its value
is rendered back to config.toml's text, its default, whether it can change on a running
container, and a line of help with an example. Config
files, `hutch set` flags, the API and the docs are all driven from this one table.

Adding a key: append a `Key` to `KEYS` and the matching field to `ContainerConfig` (the field
is the key name with dots turned into underscores: `resources.memory` -> `resources_memory`).
A unit test checks that the two agree, and tests/unit/test_typed_values.py that the key's
values read back from their rendered text (give it samples there).

`parse` and `check` raise `ValueError` with a reason for a person ("must be 0 or more
seconds, got -1"); the edges (`Key.from_cli`, `hutch.config.tomlfile`) turn it into a
`UsageError` or an `InvalidConfig` naming the flag, or the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

from hutch.config import units
from hutch.config.netspec import (
    parse_addresses,
    parse_domains,
    parse_forwards,
    parse_ifnames,
    parse_mode,
    parse_netifs,
    render_addresses,
    render_forwards,
    render_netifs,
)
from hutch.config.resource_keys import RESOURCES, UBC, _str_check, ubc_parser, ubc_renderer
from hutch.config.values import IoRate, Pair
from hutch.errors import UsageError
from hutch.network.modes import DEFAULT_NETNS
from hutch.network.spec import FILTER_GROUPS, Forward, IPAddress, Netif

TYPE_CHECKING = False  # typing costs milliseconds at start-up; annotations only need it here
if TYPE_CHECKING:
    from typing import Any

    from hutch.security.idmap import IdMap

# -- value parsers (CLI string -> value) and checkers (TOML value -> value) ---------------

_TOML_TYPE = {
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    list: "array",
    dict: "table",
}


def _describe(value: object) -> str:
    kind = _TOML_TYPE.get(type(value), type(value).__name__)
    return f"{kind} {value!r}" if kind in ("integer", "float", "boolean") else kind


def _want_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_describe(value)}")
    return value


def _want_str_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"expected an array of strings, got {_describe(value)}")
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"expected an array of strings, found {_describe(item)}")
    return tuple(value)


def _no_nul(text: str, what: str) -> str:
    if "\0" in text:
        raise ValueError(f"{what} contains a NUL character")
    return text


HOSTNAME_MAX = 64  # HOST_NAME_MAX on Linux
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


def parse_hostname(text: str) -> str:
    """An RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens."""
    if not text:
        raise ValueError("host name is empty")
    if len(text) > HOSTNAME_MAX:
        raise ValueError(f"host name is longer than {HOSTNAME_MAX} characters")
    for label in text.split("."):
        if not label:
            raise ValueError(f"{text!r} has an empty label (leading, trailing or double dot)")
        if not re.fullmatch(_LABEL, label):
            raise ValueError(
                f"{text!r} is not a valid host name "
                "(use letters, digits and '-', not at the start or end of a label)"
            )
    return text


_TEMPLATE = r"[A-Za-z0-9][A-Za-z0-9._+@:-]{0,127}"


def parse_template(text: str) -> str:
    if not re.fullmatch(_TEMPLATE, text) or ".." in text:
        raise ValueError(
            f"{text!r} is not a template name (such as debian-12-amd64: letters, digits, "
            "'.', '_', '-', '+', '@', ':', at most 128 characters)"
        )
    return text


def _split_words(text: str) -> tuple[str, ...]:
    import shlex  # only `set --init/--environment` needs it

    try:
        return tuple(shlex.split(text))
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise ValueError(f"cannot split {text!r} into words: {str(exc).lower()}") from None


def check_init(argv: object) -> tuple[str, ...]:
    words = _want_str_list(argv)
    if not words:
        raise ValueError("init command is empty")
    for word in words:
        _no_nul(word, "init command")
    if not words[0].startswith("/"):
        raise ValueError(
            f"init program {words[0]!r} must be an absolute path inside the container, "
            "such as /sbin/init"
        )
    return words


def parse_init(text: str) -> tuple[str, ...]:
    return check_init(_split_words(text))


_RT = r"SIGRT(MIN|MAX)([+-])(\d+)"
_UNCATCHABLE = {"SIGKILL", "SIGSTOP"}


def parse_signal(text: str) -> str:
    """A signal name (`SIGUSR2`, `usr2`, `SIGRTMIN+4`) in its canonical spelling."""
    import signal  # not needed by `hutch list`

    name = text.strip().upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    rt = re.fullmatch(_RT, name)
    if rt:
        base, sign, offset = rt.group(1), rt.group(2), int(rt.group(3))
        span = signal.SIGRTMAX - signal.SIGRTMIN
        if (base, sign) not in (("MIN", "+"), ("MAX", "-")) or offset > span:
            raise ValueError(
                f"unknown signal {text!r} (real-time signals go from SIGRTMIN+0 "
                f"to SIGRTMIN+{span}, or SIGRTMAX-{span} to SIGRTMAX-0)"
            )
        return f"SIGRT{base}{sign}{offset}" if offset else f"SIGRT{base}"
    try:
        name = signal.Signals[name].name  # aliases such as SIGCLD resolve to SIGCHLD
    except KeyError:
        raise ValueError(
            f"unknown signal {text!r} (use a name such as SIGTERM or SIGRTMIN+3)"
        ) from None
    if name in _UNCATCHABLE:
        raise ValueError(
            f"{name} cannot be caught, so init cannot shut down cleanly "
            "(hutch sends SIGKILL itself after stop_timeout)"
        )
    return name


def parse_stop_signal(text: str) -> str | None:
    return None if text.strip().lower() == "auto" else parse_signal(text)


def check_stop_signal(value: object) -> str | None:
    return parse_stop_signal(_want_str(value))


def signal_number(name: str) -> int:
    """The number of a signal name that `parse_signal` accepted."""
    import signal

    rt = re.fullmatch(_RT, name)
    if rt:
        base = signal.SIGRTMIN if rt.group(1) == "MIN" else signal.SIGRTMAX
        offset = int(rt.group(3))
        return int(base) + offset if rt.group(2) == "+" else int(base) - offset
    return int(signal.Signals[name])


_DURATION = r"(\d+)\s*(s|sec|m|min|h)?"
_UNIT = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def check_seconds(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number of seconds, got {_describe(value)}")
    if value < 0:
        raise ValueError(f"must be 0 or more seconds, got {value}")
    return value


def parse_duration(text: str) -> int:
    """Seconds, written `90`, `90s`, `2m` or `1h`."""
    m = re.fullmatch(_DURATION, text.strip().lower())
    if not m:
        if text.strip().startswith("-"):
            raise ValueError(f"must be 0 or more seconds, got {text}")
        raise ValueError(f"{text!r} is not a duration (write seconds such as 60, or 2m, 1h)")
    return int(m.group(1)) * _UNIT[m.group(2)]


_TRUE = {"yes", "true", "on", "1"}
_FALSE = {"no", "false", "off", "0"}


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"{text!r} is not yes or no (also true/false, on/off, 1/0)")


def check_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_describe(value)}")
    return value


def parse_text(text: str) -> str:
    return _no_nul(text, "text")


def check_text(value: object) -> str:
    return parse_text(_want_str(value))


_ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def check_environment(value: object) -> tuple[str, ...]:
    items = _want_str_list(value)
    seen: set[str] = set()
    for item in items:
        name, eq, _ = item.partition("=")
        if not eq or not re.fullmatch(_ENV_NAME, name):
            raise ValueError(
                f"{item!r} is not NAME=VALUE (NAME of letters, digits and '_', "
                "not starting with a digit)"
            )
        _no_nul(item, f"variable {name}")
        if name in seen:
            raise ValueError(f"variable {name} is set twice")
        seen.add(name)
    return items


def parse_environment(text: str) -> tuple[str, ...]:
    return check_environment(_split_words(text))


def _checked(parse: Callable[[str], Any]) -> Callable[[object], Any]:
    """A TOML checker for a string-valued key: type check, then the CLI parser."""

    def check(value: object) -> Any:
        return parse(_want_str(value))

    return check


def _plain(value: Any) -> Any:
    """The TOML value of a key whose value is already plain: tuples become arrays."""
    return list(value) if isinstance(value, tuple) else value


# -- the registry ----------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One config key. See the module docstring."""

    name: str  # TOML name, dotted for a key inside a [table]: "resources.memory"
    flag: str  # `hutch set` flag without dashes: "hostname" -> --hostname
    kind: str  # for docs and the API: str, int, bool, list[str], signal, duration
    parse: Callable[[str], Any]  # CLI string -> value; ValueError(reason) if bad
    check: Callable[[object], Any]  # value read from TOML -> value; ValueError(reason) if bad
    default: Any
    live: bool  # can be applied to a running container
    help: str  # one line, with an example
    # list keys edited item by item, as vzctl's --ipadd/--ipdel: the flags without dashes
    add_flag: str | None = None
    del_flag: str | None = None
    # typed value -> its TOML (and JSON) value, which `check` reads back to the same value;
    # where values leave: config.toml, `hutch config`, the run record, the daemon's wire
    render: Callable[[Any], Any] = _plain

    def plain(self, value: Any) -> Any:
        """`render`, None (unset) kept."""
        return None if value is None else self.render(value)

    def accept(self, value: object) -> Any:
        """A value as the library takes it (hutch.Container.set, the API): the typed value
        (`Pair`, `Netif`, an `ipaddress` address...), its TOML form, or a string as on the
        command line; checked all the same. ValueError(reason) if bad; None stays None."""
        if value is None:
            return None
        if isinstance(value, str):
            return self.parse(value)
        return self.check(self.render(value))

    @property
    def attr(self) -> str:
        """The `ContainerConfig` field holding this key."""
        return self.name.replace(".", "_")

    @property
    def option(self) -> str:
        return "--" + self.flag

    def from_cli(self, text: str) -> Any:
        """Parse a command-line value; a bad one raises `UsageError` naming the flag."""
        try:
            return self.parse(text)
        except ValueError as exc:
            raise UsageError(f"{self.option}: {exc}") from None


KEYS: tuple[Key, ...] = (
    Key(
        name="hostname",
        flag="hostname",
        kind="str",
        parse=parse_hostname,
        check=_checked(parse_hostname),
        default=None,
        live=True,
        help="host name inside the container, e.g. --hostname web1.example.com "
        "(default: the container ID)",
    ),
    Key(
        name="template",
        flag="template",
        kind="str",
        parse=parse_template,
        check=_checked(parse_template),
        default=None,
        live=False,
        help="OS template the container was created from, e.g. debian-12-amd64 (informational)",
    ),
    Key(
        name="init",
        flag="init",
        kind="list[str]",
        parse=parse_init,
        check=check_init,
        default=("/sbin/init",),
        live=False,
        help="command run as the container's PID 1, e.g. --init '/sbin/init splash'",
    ),
    Key(
        name="stop_signal",
        flag="stop-signal",
        kind="signal",
        parse=parse_stop_signal,
        check=check_stop_signal,
        default=None,
        live=False,
        help="signal asking init to shut down, e.g. --stop-signal SIGRTMIN+3 "
        "(default auto: chosen from the init)",
    ),
    Key(
        name="stop_timeout",
        flag="stop-timeout",
        kind="duration",
        parse=parse_duration,
        check=check_seconds,
        default=60,
        live=True,
        help="seconds to wait for a clean shutdown before killing, e.g. --stop-timeout 2m",
    ),
    Key(
        name="onboot",
        flag="onboot",
        kind="bool",
        parse=parse_bool,
        check=check_bool,
        default=False,
        live=True,
        help="start the container when the host boots, e.g. --onboot yes",
    ),
    Key(
        name="description",
        flag="description",
        kind="str",
        parse=parse_text,
        check=check_text,
        default="",
        live=True,
        help="free text about the container, e.g. --description 'mail relay'",
    ),
    Key(
        name="environment",
        flag="environment",
        kind="list[str]",
        parse=parse_environment,
        check=check_environment,
        default=(),
        live=False,
        help="variables given to init, e.g. --environment 'TZ=UTC LANG=C.UTF-8'",
    ),
)

KEYS += tuple(
    Key(name=n, flag=f, kind=k, parse=p, check=c, default=None, live=True, help=h, render=r)
    for n, f, k, p, c, r, h in RESOURCES
) + tuple(
    Key(
        name=f"ubc.{n}",
        flag=n,
        kind=f"{u}-pair",
        parse=ubc_parser(u),
        check=_checked(ubc_parser(u)),
        default=None,
        live=True,
        help=f"OpenVZ {n.upper()}, barrier:limit in {u}, e.g. --{n} 1000:1100 ({h})",
        render=ubc_renderer(u),
    )
    for n, u, h in UBC
)

SPOOF_GROUPS = (*FILTER_GROUPS, "all")  # hutch.network.portfilter's rule groups


def check_allow_spoof(value: object) -> tuple[str, ...]:
    words = _want_str_list(value)
    for w in words:
        if w not in SPOOF_GROUPS:
            raise ValueError(f"{w!r}: network.allow_spoof takes {', '.join(SPOOF_GROUPS)}")
    return tuple(dict.fromkeys(words))


def parse_allow_spoof(text: str) -> tuple[str, ...]:
    return check_allow_spoof(tuple(text.replace(",", " ").split()))


KEYS += (
    Key(
        name="network.mode",
        flag="network",
        kind="str",
        parse=parse_mode,
        check=_checked(parse_mode),
        default=DEFAULT_NETNS,
        live=False,
        help="private (own network namespace) or host (share the host's), e.g. --network host",
    ),
    Key(
        name="network.ip_address",
        flag="ip-address",
        kind="list[str]",
        parse=parse_addresses,
        check=parse_addresses,
        default=(),
        live=True,
        help="venet addresses (routed, /32 and /128), e.g. --ipadd 198.18.1.10 (repeatable)",
        add_flag="ipadd",
        del_flag="ipdel",
        render=render_addresses,
    ),
    Key(
        name="network.nameserver",
        flag="nameserver",
        kind="list[str]",
        parse=parse_addresses,
        check=parse_addresses,
        default=(),
        live=True,
        help="DNS servers for /etc/resolv.conf, e.g. --nameserver 198.18.0.1",
        render=render_addresses,
    ),
    Key(
        name="network.searchdomain",
        flag="searchdomain",
        kind="list[str]",
        parse=parse_domains,
        check=parse_domains,
        default=(),
        live=True,
        help="search domains for /etc/resolv.conf, e.g. --searchdomain example.com",
    ),
    Key(
        name="network.netif",
        flag="netif",
        kind="list[str]",
        parse=parse_netifs,
        check=parse_netifs,
        default=(),
        live=True,
        help="interfaces, e.g. --netif_add ifname=eth0,bridge=br0,ip=198.18.0.2/24 or "
        "vzctl's eth1,MAC,HOST_IFNAME,HOST_MAC,BRIDGE; --netif_del eth1",
        add_flag="netif_add",
        del_flag="netif_del",
        render=render_netifs,
    ),
    Key(
        name="network.netdev",
        flag="netdev",
        kind="list[str]",
        parse=parse_ifnames,
        check=parse_ifnames,
        default=(),
        live=True,
        help="host NICs given to the container (phys), e.g. --netdev_add eth1",
        add_flag="netdev_add",
        del_flag="netdev_del",
    ),
    Key(
        name="network.forward",
        flag="forward",
        kind="list[str]",
        parse=parse_forwards,
        check=parse_forwards,
        default=(),
        live=True,
        help="host port -> container port, e.g. --forward_add tcp:8080:80",
        add_flag="forward_add",
        del_flag="forward_del",
        render=render_forwards,
    ),
    Key(
        name="network.allow_spoof",
        flag="allow_spoof",
        kind="list[str]",
        parse=parse_allow_spoof,
        check=check_allow_spoof,
        default=(),
        live=True,
        help="what the host lets out of the container's veth and venet links that it drops "
        "by default: mac (other source MACs), ip (other source addresses and protocols), "
        "router (IPv6 router advertisements, redirects, DHCP server replies), all; "
        "e.g. --allow_spoof router",
    ),
)

BACKENDS = ("dir", "overlay", "image")


def parse_backend(text: str) -> str:
    word = text.strip().lower()
    if word not in BACKENDS:
        raise ValueError(f"{text!r} is not a rootfs backend (one of: {', '.join(BACKENDS)})")
    return word


KEYS += (
    Key(
        name="storage.backend",
        flag="backend",
        kind="str",
        parse=parse_backend,
        check=_checked(parse_backend),
        default="dir",
        live=False,
        help="rootfs backend, chosen at create: dir (private copy), overlay (shared template "
        "+ own upper layer) or image (ext4 image file with a disk quota), e.g. --backend overlay",
    ),
    Key(
        name="storage.diskspace",
        flag="diskspace",
        kind="size-pair",
        parse=units.parse_size_pair,
        check=_str_check(units.parse_size_pair),
        default=None,
        live=True,
        help="disk quota soft:hard (image backend: the hard limit is the image size, grown "
        "live, never shrunk; default 1G), e.g. --diskspace 1G:1.2G",
    ),
    Key(
        name="storage.diskinodes",
        flag="diskinodes",
        kind="count-pair",
        parse=units.parse_count_pair,
        check=_str_check(units.parse_count_pair),
        default=None,
        live=False,
        help="inode quota soft:hard (image backend: the hard limit is the inode count of its "
        "file system, fixed at create), e.g. --diskinodes 200000:220000",
    ),
)


def parse_devices(text: str) -> tuple[str, ...]:
    return check_devices(tuple(text.replace(",", " ").split()))


def check_devices(value: object) -> tuple[str, ...]:
    from hutch.security.devices import parse_devices as _parse

    return _parse(_want_str_list(value))


KEYS += (
    Key(
        name="security.devices",
        flag="devices",
        kind="list[str]",
        parse=parse_devices,
        check=check_devices,
        default=(),
        live=False,
        help="devices beyond the default set (null, zero, full, random, urandom, tty, "
        "console, ptys) the container may open, bound into its /dev: fuse, tun, "
        "e.g. --devices fuse,tun",
    ),
)

SECCOMP_MODES = ("default", "unconfined")


def parse_seccomp(text: str) -> str:
    word = text.strip().lower()
    if word not in SECCOMP_MODES:
        raise ValueError(f"{text!r} is not a seccomp mode (one of: {', '.join(SECCOMP_MODES)})")
    return word


def check_cap_names(value: object) -> tuple[str, ...]:
    from hutch.security.capabilities import parse_cap_name

    return tuple(dict.fromkeys(parse_cap_name(v) for v in _want_str_list(value)))


def parse_cap_names(text: str) -> tuple[str, ...]:
    return check_cap_names([w for w in re.split(r"[\s,]+", text) if w])


def check_syscall_names(value: object) -> tuple[str, ...]:
    from hutch.security.seccomp import MAX_DENY, parse_syscall_name

    names = tuple(dict.fromkeys(parse_syscall_name(v) for v in _want_str_list(value)))
    if len(names) > MAX_DENY // 2:
        raise ValueError(f"at most {MAX_DENY // 2} extra system calls can be refused")
    return names


def parse_syscall_names(text: str) -> tuple[str, ...]:
    return check_syscall_names([w for w in re.split(r"[\s,]+", text) if w])


KEYS += (
    Key(
        name="security.cap_drop",
        flag="cap_drop",
        kind="list[str]",
        parse=parse_cap_names,
        check=check_cap_names,
        default=(),
        live=False,
        help="capabilities dropped on top of the default list, e.g. --cap_drop CAP_NET_RAW",
    ),
    Key(
        name="security.cap_keep",
        flag="cap_keep",
        kind="list[str]",
        parse=parse_cap_names,
        check=check_cap_names,
        default=(),
        live=False,
        help="capabilities of the default drop list to keep, e.g. --cap_keep CAP_SYS_TIME",
    ),
    Key(
        name="security.seccomp",
        flag="seccomp",
        kind="str",
        parse=parse_seccomp,
        check=_checked(parse_seccomp),
        default="default",
        live=False,
        help="seccomp filter: default (refuses calls that reach the host: modules, kexec, "
        "clock, keyring, bpf...) or unconfined, e.g. --seccomp unconfined",
    ),
    Key(
        name="security.seccomp_deny",
        flag="seccomp_deny",
        kind="list[str]",
        parse=parse_syscall_names,
        check=check_syscall_names,
        default=(),
        live=False,
        help="system calls refused (EPERM) on top of the default filter, e.g. "
        "--seccomp_deny ptrace,process_vm_writev",
    ),
)


def parse_idmap(text: str) -> str:
    from hutch.security.idmap import IDMAP_MODES

    word = text.strip().lower()
    if word not in IDMAP_MODES:
        raise ValueError(f"{text!r} is not an id map mode (one of: {', '.join(IDMAP_MODES)})")
    return word


def parse_host_id(text: str) -> int:
    if not text.strip().isdigit() or not 0 < int(text) < 1 << 32:
        raise ValueError(f"{text!r} is not a host uid/gid (a number above 0)")
    return int(text)


def check_host_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a number, got {_describe(value)}")
    return parse_host_id(str(value))


# Keys chosen at create and fixed after it: the rootfs's owners follow them.
FIXED_AT_CREATE = ("security.privileged", "security.idmap", "security.idmap_base")

KEYS += (
    Key(
        name="security.privileged",
        flag="privileged",
        kind="bool",
        parse=parse_bool,
        check=check_bool,
        default=False,
        live=False,
        help="IDs not shifted: the container's root is the host's uid 0 and its files keep "
        "the host's IDs (opt-in at create); its capabilities stay its user namespace's, which "
        "maps every ID to itself (CAP_SYS_ADMIN and CAP_SYS_PTRACE are dropped unless "
        "--cap_keep gives them back), e.g. create --privileged",
    ),
    Key(
        name="security.idmap",
        flag="idmap",
        kind="str",
        parse=parse_idmap,
        check=_checked(parse_idmap),
        default="shared",
        live=False,
        help="host IDs of an unprivileged container, from root's range in /etc/subuid and "
        "/etc/subgid: shared (one block for all) or isolated (a block of its own), "
        "chosen at create, e.g. --idmap isolated",
    ),
    Key(
        name="security.idmap_base",
        flag="idmap_base",
        kind="int",
        parse=parse_host_id,
        check=check_host_id,
        default=None,
        live=False,
        help="the host uid and gid of the container's root (picked at create; its files "
        "belong to base..base+65535), e.g. --idmap_base 1000000",
    ),
)

KEY_BY_NAME: Mapping[str, Key] = {key.name: key for key in KEYS}
KEY_BY_FLAG: Mapping[str, Key] = {key.flag: key for key in KEYS}

# Names of the [tables] that keys live in ("resources" for "resources.memory").
TABLES: frozenset[str] = frozenset(
    ".".join(key.name.split(".")[:i]) for key in KEYS for i in range(1, key.name.count(".") + 1)
)


# -- the typed config ------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerConfig:
    """A container's validated configuration: one field per `Key`, plus its ID.

    List values are tuples, so a config is immutable and hashable. Values are typed, parsed
    once where they come in: sizes as bytes, barrier:limit as `values.Pair`, IO rules as
    `values.IoRate`, addresses as `ipaddress` objects, interfaces as `spec.Netif`, forwards as
    `spec.Forward` (each key's `render` writes them back as text). Build one with
    `from_values` (defaults filled) or `hutch.config.load`; change one with `with_changes`.
    """

    ctid: str
    hostname: str | None = None
    template: str | None = None
    init: tuple[str, ...] = ("/sbin/init",)
    stop_signal: str | None = None
    stop_timeout: int = 60
    onboot: bool = False
    description: str = ""
    environment: tuple[str, ...] = ()
    resources_memory: Pair | None = None
    resources_swap: int | None = None
    resources_cpuunits: int | None = None
    resources_cpulimit: int | None = None
    resources_cpus: int | None = None
    resources_cpuset: str | None = None
    resources_numproc: Pair | None = None
    resources_ioprio: int | None = None
    resources_iolimit: tuple[IoRate, ...] | None = None
    resources_iopslimit: tuple[IoRate, ...] | None = None
    ubc_physpages: Pair | None = None
    ubc_swappages: Pair | None = None
    ubc_privvmpages: Pair | None = None
    ubc_kmemsize: Pair | None = None
    ubc_lockedpages: Pair | None = None
    ubc_shmpages: Pair | None = None
    ubc_vmguarpages: Pair | None = None
    ubc_oomguarpages: Pair | None = None
    ubc_numfile: Pair | None = None
    ubc_numflock: Pair | None = None
    ubc_numpty: Pair | None = None
    ubc_numsiginfo: Pair | None = None
    ubc_numtcpsock: Pair | None = None
    ubc_numothersock: Pair | None = None
    ubc_tcpsndbuf: Pair | None = None
    ubc_tcprcvbuf: Pair | None = None
    ubc_othersockbuf: Pair | None = None
    ubc_dgramrcvbuf: Pair | None = None
    ubc_dcachesize: Pair | None = None
    ubc_numiptent: Pair | None = None
    ubc_avnumproc: Pair | None = None
    network_mode: str = DEFAULT_NETNS
    network_ip_address: tuple[IPAddress, ...] = ()
    network_nameserver: tuple[IPAddress, ...] = ()
    network_searchdomain: tuple[str, ...] = ()
    network_netif: tuple[Netif, ...] = ()
    network_netdev: tuple[str, ...] = ()
    network_forward: tuple[Forward, ...] = ()
    network_allow_spoof: tuple[str, ...] = ()
    storage_backend: str = "dir"
    storage_diskspace: str | None = None
    storage_diskinodes: str | None = None
    security_devices: tuple[str, ...] = ()
    security_cap_drop: tuple[str, ...] = ()
    security_cap_keep: tuple[str, ...] = ()
    security_seccomp: str = "default"
    security_seccomp_deny: tuple[str, ...] = ()
    security_privileged: bool = False
    security_idmap: str = "shared"
    security_idmap_base: int | None = None

    @classmethod
    def from_values(cls, ctid: str, values: Mapping[str, object]) -> ContainerConfig:
        """A config from already-validated values by key name; absent keys get defaults."""
        unknown = set(values) - KEY_BY_NAME.keys()
        if unknown:
            raise KeyError(f"not config keys: {', '.join(sorted(unknown))}")
        kwargs = {key.attr: _freeze(values.get(key.name, key.default)) for key in KEYS}
        return cls(ctid=ctid, **kwargs)

    @classmethod
    def from_settings(cls, ctid: str, settings: Mapping[str, object]) -> ContainerConfig:
        """A config from settings as the library takes them (`Key.accept`: typed values,
        their TOML form or command-line text); absent keys get defaults. A bad value raises
        ValueError("<key>: <reason>")."""
        return cls.from_values(ctid, accepted(settings))

    @property
    def idmap(self) -> IdMap | None:
        """How the container's IDs are shifted (None: privileged, not shifted; also a
        container made before hutch had user namespaces, whose files belong to the host's
        IDs)."""
        from hutch.security.idmap import of

        return of(self.security_privileged, self.security_idmap_base)

    @property
    def userns(self) -> IdMap:
        """The map of the container's user namespace: `idmap`, or for a privileged container
        the identity (its IDs are the host's, its capabilities its namespace's)."""
        from hutch.security.idmap import userns_map

        return userns_map(self.idmap)

    @property
    def effective_hostname(self) -> str:
        return self.hostname if self.hostname is not None else self.ctid

    def get(self, name: str) -> Any:
        """The value of a key by its TOML name (`KeyError` for an unknown name)."""
        return getattr(self, KEY_BY_NAME[name].attr)

    def values(self) -> dict[str, Any]:
        """Every key by name, as stored: `hostname` stays None when unset."""
        return {key.name: self.get(key.name) for key in KEYS}

    def with_changes(self, changes: Mapping[str, object]) -> ContainerConfig:
        """A copy with validated values changed by key name (None resets to the default)."""
        values = self.values()
        for name, value in changes.items():
            values[name] = KEY_BY_NAME[name].default if value is None else value
        return ContainerConfig.from_values(self.ctid, values)

    def to_dict(self) -> dict[str, Any]:
        """The full effective config for `hutch config ID` and JSON: every key rendered as
        config.toml writes it (lists as lists), the host name filled in from the ID when
        unset."""
        out: dict[str, Any] = {"ctid": self.ctid}
        for key in KEYS:
            out[key.name] = key.plain(self.get(key.name))
        out["hostname"] = self.effective_hostname
        return out


def accepted(settings: Mapping[str, object]) -> dict[str, Any]:
    """Settings by key name as the library takes them, each through `Key.accept`, into
    typed values. KeyError for an unknown name, ValueError("<key>: <reason>") for a bad
    value."""
    out: dict[str, Any] = {}
    for name, value in settings.items():
        try:
            out[name] = KEY_BY_NAME[name].accept(value)
        except KeyError:
            raise KeyError(f"not a config key: {name}") from None
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
    return out


def rendered(values: Mapping[str, object]) -> dict[str, Any]:
    """Typed values by key name as TOML and JSON hold them (`Key.plain`), for the wire."""
    return {name: KEY_BY_NAME[name].plain(value) for name, value in values.items()}


def _freeze(value: object) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _check_registry() -> None:
    """The registry and the dataclass must agree; a mismatch is a programming error."""
    attrs = [f.name for f in fields(ContainerConfig)][1:]
    if attrs != [key.attr for key in KEYS] or len(KEY_BY_FLAG) != len(KEYS):
        raise AssertionError("hutch.config.schema: KEYS and ContainerConfig fields differ")
