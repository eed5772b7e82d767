"""One exception hierarchy for everything a person can cause or fix.

    HutchError                  exit 1
     ├── UsageError             exit 2   bad flag or argument
     ├── InvalidConfig          exit 3   bad config value (file and line when known)
     ├── NotFound               exit 4   unknown container, template, ...
     ├── AlreadyExists          exit 5
     ├── StateConflict          exit 6   wrong state: start a running one, exec a stopped one
     ├── KernelFeatureMissing   exit 7
     ├── DaemonError            exit 8   hutchd unreachable or failed
     └── OperationFailed        exit 9   a kernel call or helper failed; message names it

Each carries a one-line message for a person; the CLI prints it and exits with `.exit_code`,
the daemon maps `.http_status`. Nothing else may escape the library for user-caused errors.
"""

from __future__ import annotations


class HutchError(Exception):
    """Anything a person can cause or fix: `.message`, `.hint`, `.exit_code`, `.http_status`."""

    exit_code = 1
    http_status = 500
    kind = "error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(HutchError):
    """A bad flag, argument or keyword."""

    exit_code = 2
    http_status = 400
    kind = "usage"


class InvalidConfig(HutchError):
    """A bad config value (with the file and line when known)."""

    exit_code = 3
    http_status = 400
    kind = "invalid-config"


class NotFound(HutchError):
    """No such container, template, snapshot, ..."""

    exit_code = 4
    http_status = 404
    kind = "not-found"


class AlreadyExists(HutchError):
    """A container, template or snapshot of that name exists."""

    exit_code = 5
    http_status = 409
    kind = "exists"


class StateConflict(HutchError):
    """The wrong state for it: start a running one, exec in a stopped one."""

    exit_code = 6
    http_status = 409
    kind = "state"


class KernelFeatureMissing(HutchError):
    """This kernel lacks what the operation needs."""

    exit_code = 7
    http_status = 501
    kind = "kernel-feature"


class DaemonError(HutchError):
    """hutchd is unreachable or failed."""

    exit_code = 8
    http_status = 503
    kind = "daemon"


class OperationFailed(HutchError):
    """A kernel call or a helper program failed; the message names it."""

    exit_code = 9
    http_status = 500
    kind = "failed"


_BY_KIND = {
    cls.kind: cls
    for cls in (
        HutchError,
        UsageError,
        InvalidConfig,
        NotFound,
        AlreadyExists,
        StateConflict,
        KernelFeatureMissing,
        DaemonError,
        OperationFailed,
    )
}


def from_wire(kind: str, message: str) -> HutchError:
    """Rebuild an error sent by hutchd (see hutch.api) as the same class."""
    return _BY_KIND.get(kind, HutchError)(message)
