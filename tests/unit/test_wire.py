"""hutchd's small HTTP subset: what the client sends, the server parses, and back."""

from __future__ import annotations

import json

import pytest

from hutch.api import wire
from hutch.errors import NotFound, StateConflict, from_wire


def test_request_round_trip():
    raw = wire.request("POST", "/v1/containers/101/stop", {"timeout": 5})
    head, _, body = raw.partition(b"\r\n\r\n")
    start, headers = wire.parse_head(head)
    assert start == ["POST", "/v1/containers/101/stop", "HTTP/1.1"]
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body) == {"timeout": 5}
    assert headers["connection"] == "close"


def test_upgrade_request_keeps_its_connection_header():
    raw = wire.request("GET", "/x", None, {"Connection": "Upgrade", "Upgrade": "hutch-console"})
    _, headers = wire.parse_head(raw.partition(b"\r\n\r\n")[0])
    assert headers["connection"] == "Upgrade"
    assert headers["upgrade"] == "hutch-console"
    assert headers["content-length"] == "0"


def test_response_status_line_and_body():
    raw = wire.response(409, {"error": {"kind": "state", "message": "busy"}})
    head, _, body = raw.partition(b"\r\n\r\n")
    start, _ = wire.parse_head(head)
    assert start[:2] == ["HTTP/1.1", "409"]
    assert json.loads(body)["error"]["kind"] == "state"


def test_switching_protocols_has_no_body_headers():
    raw = wire.response(101, headers={"Upgrade": "hutch-console"})
    assert raw.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Content-Length" not in raw


def test_malformed_header_is_refused():
    with pytest.raises(ValueError):
        wire.parse_head(b"GET / HTTP/1.1\r\nno colon here")


def test_errors_cross_the_wire_as_the_same_class():
    assert isinstance(from_wire("state", "x"), StateConflict)
    assert isinstance(from_wire("not-found", "x"), NotFound)
    assert from_wire("something-new", "msg").message == "msg"
