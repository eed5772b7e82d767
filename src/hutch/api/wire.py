"""A deliberately small HTTP/1.1 subset, shared by hutchd and its client.

One request per connection (Connection: close), JSON bodies with Content-Length, and one
upgrade (the console stream). Keeping it this small keeps the CLI's import time low: the
standard library's http.client pulls in the email package.
"""

from __future__ import annotations

import json
from typing import Any

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024
REASONS = {
    101: "Switching Protocols",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


def request(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    head = [f"{method} {path} HTTP/1.1", "Host: hutchd", f"Content-Length: {len(data)}"]
    if data:
        head.append("Content-Type: application/json")
    for k, v in (headers or {}).items():
        head.append(f"{k}: {v}")
    if not headers or "Connection" not in headers:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    if status != 101:
        head += [
            f"Content-Length: {len(data)}",
            "Content-Type: application/json",
            "Connection: close",
        ]
    for k, v in (headers or {}).items():
        head.append(f"{k}: {v}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def parse_head(raw: bytes) -> tuple[list[str], dict[str, str]]:
    """Split a request or status line and headers (names lower-cased)."""
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    start = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return start, headers
