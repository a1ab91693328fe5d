"""Serialising response heads.

h11 parses requests; responses are framed here. h11's ``send()`` validates and normalises every
header on every response, which costs about as much as everything else a hello-world response needs,
and it cannot keep an HTTP/1.0 connection alive. So the WSGI layer validates what an app passes to
``start_response`` once (RFC 9110 §5.1 token names, §5.5 field values without CR, LF or NUL, which
is what stops response splitting), and this module joins the head with the framing headers the
server decides on.
"""

from __future__ import annotations

import re
import time
from typing import Any, NamedTuple
from email.utils import formatdate

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
# RFC 9110 §5.5: field-value = *field-content; no CR, LF or NUL anywhere; no surrounding whitespace
# is required of senders but harmless, so only the dangerous bytes are refused.
_BAD_VALUE = re.compile(rb"[\x00\r\n]")
_STATUS = re.compile(r"[1-9][0-9][0-9](?: [^\r\n\x00]*)?\Z")

#: Hop-by-hop fields an application must not set (PEP 3333 "Other HTTP Features"); the server owns
#: the connection's framing, so these are dropped with a warning.
HOP_BY_HOP = frozenset(
    {b"transfer-encoding", b"keep-alive", b"te", b"trailer", b"upgrade", b"proxy-connection"}
)

REASONS = {
    100: "Continue",
    400: "Bad Request",
    404: "Not Found",
    408: "Request Timeout",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


def check_status(status: object) -> bytes:
    """Validate a WSGI status string ("200 OK") and return it encoded (PEP 3333: latin-1)."""
    if type(status) is not str:
        raise TypeError(f"status must be a str, not {type(status).__name__}")
    if not _STATUS.match(status):
        raise ValueError(f"invalid status {status!r}: expected a 3-digit code and a reason")
    return status.encode("latin-1")


def encode_header(name: object, value: object) -> tuple[bytes, bytes]:
    """Validate one response header from an app and return it encoded."""
    if type(name) is not str or type(value) is not str:
        if isinstance(name, bytes) and isinstance(value, (bytes, str)):
            # Legacy apps pass byte strings; PEP 3333 native strings are latin-1.
            name = name.decode("latin-1")
            value = value if isinstance(value, str) else value.decode("latin-1")
        else:
            raise TypeError(f"header name and value must be str, got {name!r}: {value!r}")
    raw_name = name.encode("latin-1")
    raw_value = value.encode("latin-1")
    if not _TOKEN.match(raw_name):
        raise ValueError(f"invalid header name {name!r}")
    if _BAD_VALUE.search(raw_value):
        raise ValueError(f"invalid header value for {name!r}: CR, LF and NUL are not allowed")
    return raw_name, raw_value.strip(b" \t")


class ResponseHead(NamedTuple):
    """What ``start_response`` arguments come to, once validated."""

    status_bytes: bytes
    status_code: int
    header_block: bytes  # the app's header lines, minus the ones the server owns
    declared_length: int | None
    close: bool  # the app said "Connection: close"
    has_date: bool
    has_server: bool
    dropped: tuple[str, ...]  # hop-by-hop names the app set (PEP 3333 forbids them)


# Apps answer with the same few status/header combinations over and over; validating them is a
# noticeable share of a small response, so the outcome is remembered (bounded, never errors).
_heads: dict[tuple[Any, ...], ResponseHead] = {}
_HEADS_KEPT = 512


def response_head(status: str, headers: list[tuple[str, str]]) -> ResponseHead:
    """Validate a status and header list from an app (raising TypeError/ValueError)."""
    try:
        key = (status, *headers)
        head = _heads.get(key)
    except TypeError:  # unhashable items: validate without remembering
        key = None
        head = None
    if head is None:
        head = _build_head(status, headers)
        if key is not None:
            if len(_heads) >= _HEADS_KEPT:
                _heads.clear()
            _heads[key] = head
    return head


def _build_head(status: str, headers: list[tuple[str, str]]) -> ResponseHead:
    status_bytes = check_status(status)
    lines = []
    declared = None
    has_date = has_server = close = False
    dropped = []
    for item in headers:
        name, value = encode_header(*item)
        lower = name.lower()
        if lower == b"content-length":
            if not value.isdigit() or declared is not None:
                raise ValueError(f"invalid or repeated Content-Length {value!r}")
            declared = int(value)
            continue  # written with the framing, where 1xx/204 and HEAD are handled
        if lower == b"connection":
            close = close or b"close" in value.lower()
            continue  # the server owns the connection's fate and says so itself
        if lower in HOP_BY_HOP:
            dropped.append(name.decode("latin-1"))
            continue
        if lower == b"date":
            has_date = True
        elif lower == b"server":
            has_server = True
        lines.append(name + b": " + value + b"\r\n")
    return ResponseHead(
        status_bytes,
        int(status[:3]),
        b"".join(lines),
        declared,
        close,
        has_date,
        has_server,
        tuple(dropped),
    )


class DateCache:
    """The ``Date`` header line (RFC 9110 §6.6.1), formatted at most once per second."""

    __slots__ = ("_second", "_line")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._line = b"date: " + formatdate(now, usegmt=True).encode("ascii") + b"\r\n"
        return self._line


def simple_response(
    status: int, reason_text: str, *, extra: bytes = b"", keep_alive: bool = False
) -> bytes:
    """A complete plain-text response the server answers by itself (errors, 503, 100)."""
    phrase = REASONS.get(status, "Error")
    body = f"{reason_text}\n".encode("utf-8") if reason_text else b""
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode("ascii")),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"" if keep_alive else b"connection: close\r\n",
            extra,
            b"\r\n",
            body,
        )
    )
