"""Request parsers: the bytes a client sends, turned into request events.

:mod:`cogen_aio.protocol` holds the connection logic (keep-alive, pipelining, timers, draining,
flow control, error responses); a parser only reads requests, one at a time, and says where the
client is in the current one. Two implementations, chosen by the ``http`` setting:

- ``h11`` (:mod:`.h11_parser`): h11 itself. Its parser *is* an ``h11.Connection`` and its events
  are h11's own, so the default path pays nothing for this interface.
- ``httptools`` (:mod:`.httptools_parser`, extra ``fast``): llhttp parses the header fields; the
  request line, the end of the head and the body framing are read the way h11 reads them, so both
  parsers accept and refuse the same requests.

The events (each parser's ``events``, compared by identity of their type or value):

``Request``
    ``.method``, ``.target`` (raw bytes, any form), ``.http_version`` (``b"1.1"``) and
    ``.headers``, (lowercased name, value) byte pairs with surrounding whitespace removed.
``Data``
    ``.data``, a piece of the decoded request body.
``EndOfMessage``
    The request is complete (trailer fields are discarded).
``ConnectionClosed``
    The client closed its side between requests.
``NEED_DATA``
    Nothing more until more bytes arrive.
``PAUSED``
    The request is complete and bytes of the next one are already buffered: they stay unparsed
    until ``next_cycle()``.

Malformed input raises the parser's ``errors`` type; ``error_reason(exc)`` turns it into the status
to answer with (400, 413, 414, 431, 501 or 505) and a short reason that never echoes the request.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from typing import Any, ClassVar, NamedTuple, Protocol

__all__ = [
    "HEAD_END",
    "Answering",
    "PARSERS",
    "Events",
    "ParserError",
    "RequestParser",
    "content_length_problem",
    "missing_requirement",
    "parser_class",
    "raw_head_problem",
    "too_long",
]


class Events(NamedTuple):
    """The event types (and sentinel values) one parser produces."""

    Request: type
    Data: type
    EndOfMessage: type
    ConnectionClosed: type
    NEED_DATA: Any
    PAUSED: Any


class ParserError(Exception):
    """A request that cannot be accepted: ``status`` to answer with and a short ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RequestParser(Protocol):
    """What :class:`cogen_aio.protocol.HttpProtocol` asks of a parser."""

    events: ClassVar[Events]
    errors: ClassVar[type[Exception]]
    #: The request asked for ``Expect: 100-continue`` and no body byte has been read since.
    they_are_waiting_for_100_continue: bool

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; ``b""`` once it has closed its side."""

    def next_event(self) -> Any:
        """The next event (see the module docstring); raises ``errors`` on malformed input."""

    def check_head(self) -> tuple[int, str] | None:
        """Right after a ``Request`` event: what the raw head shows that must not reach the app
        (status, reason), or None."""

    def error_reason(self, exc: Exception) -> tuple[int, str]:
        """Status and short reason for an error ``next_event`` raised."""

    def buffered(self) -> int:
        """Bytes received and not yet turned into events."""

    def next_cycle(self) -> tuple[RequestParser, bool]:
        """Once the request is complete: the parser for the next one (fed what this one had
        buffered), and whether it has anything to read now (bytes of the next request, or the
        client's close)."""

    def set_aside(self) -> RequestParser:
        """Once the request is complete and its response is not (a parked long-poll): what to
        keep meanwhile, this parser or a smaller stand-in (:class:`Answering`)."""

    @property
    def message_complete(self) -> bool:
        """The whole request, body included, has been read."""

    @property
    def receiving_body(self) -> bool:
        """The request head was read and its body is not complete yet."""


class Answering:
    """Stands in for a parser whose request is complete while its response is still being
    produced, which for a long-poll can take minutes. A parser's state for a request already
    read is of no further use (h11's is about a kilobyte), so this keeps only what the client
    sends meanwhile, for ``next_cycle`` to feed to a new parser made by ``make(max_head)``.

    Only for a request after which the connection may persist: one that ends it (HTTP/1.0,
    ``Connection: close``) keeps its parser, which refuses anything sent after it.
    """

    __slots__ = ("events", "errors", "_make", "_max_head", "_chunks", "_size", "_closed")

    they_are_waiting_for_100_continue = False
    message_complete = True
    receiving_body = False

    def __init__(
        self, parser: Any, make: Any, max_head: int, data: bytes | bytearray, closed: bool
    ) -> None:
        self.events: Events = parser.events
        self.errors: type[Exception] = parser.errors
        self._make = make
        self._max_head = max_head
        self._chunks: list[bytes | bytearray] = [data] if data else []
        self._size = len(data)
        self._closed = closed

    def receive_data(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)
            self._size += len(data)
        else:
            self._closed = True

    def next_event(self) -> Any:
        if self._size:
            return self.events.PAUSED
        return self.events.ConnectionClosed() if self._closed else self.events.NEED_DATA

    def check_head(self) -> tuple[int, str] | None:  # pragma: no cover - no Request event here
        return None

    def error_reason(self, exc: Exception) -> tuple[int, str]:  # pragma: no cover - never raises
        return 400, "illegal request"

    def buffered(self) -> int:
        return self._size

    def next_cycle(self) -> tuple[Any, bool]:
        parser = self._make(self._max_head)
        data = b"".join(self._chunks)
        if data:
            parser.receive_data(data)
        if self._closed:
            parser.receive_data(b"")
        return parser, bool(data) or self._closed

    def set_aside(self) -> Answering:
        return self


#: name -> (module, its function or class that takes ``max_head`` and returns a new connection's
#: parser, the distribution it needs beyond the core dependencies)
PARSERS: dict[str, tuple[str, str, str | None]] = {
    "h11": ("cogen_aio.parsers.h11_parser", "new_parser", None),
    "httptools": ("cogen_aio.parsers.httptools_parser", "HttptoolsParser", "httptools"),
}


def missing_requirement(name: str) -> str | None:
    """Why parser ``name`` cannot be used here (one line), or None when it can."""
    requirement = PARSERS[name][2]
    if requirement is not None and importlib.util.find_spec(requirement) is None:
        return f"{name} is not installed (pip install cogen_aio[fast])"
    return None


_classes: dict[str, Any] = {}


def parser_class(name: str) -> Any:
    """What makes a new connection's parser for the ``http`` setting ``name``, given the head
    size limit ``max_head`` (bytes)."""
    cls = _classes.get(name)
    if cls is None:
        module, attribute, _ = PARSERS[name]
        cls = _classes[name] = getattr(importlib.import_module(module), attribute)
    return cls


# -- checks on the raw request head, shared by the parsers ----------------------------------------

#: The end of a request head: h11 accepts a bare LF as a line ending (RFC 9112 §2.2), so the blank
#: line may be "\n\n" as well as "\r\n\r\n"; both parsers find it the same way.
HEAD_END = re.compile(rb"\n\r?\n")
# RFC 9110 §5.5: control characters other than HTAB are not field content. h11 rejects NUL, CR and
# LF but lets the others (BEL, DEL, ...) through to the app; they serve no purpose but to confuse
# whatever parses the value next.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTENT_LENGTH = b"\ncontent-length:"


def raw_head_problem(
    raw: bytes | bytearray, end: re.Match[bytes], max_head: int
) -> tuple[int, str] | None:
    """What a parser lets through but must not reach the app, judged on the raw head bytes
    ``raw`` (the head ends with the blank line ``end`` matched by ``HEAD_END``).

    - Size: a parser only limits a head still incomplete; one that arrives whole in a single
      read would be parsed whatever its size. The limit is the same either way: 414 when the
      request line alone does not fit (RFC 9110 §15.5.15), 431 otherwise (RFC 6585 §5).
    - h11 merges repeated identical Content-Length fields, and list values of one length
      ("5, 5"), into one value. RFC 9110 §8.6 allows that, but a proxy in front may have framed
      the message differently, which is how requests are smuggled; so, like gunicorn, any second
      Content-Length is refused (RFC 9112 §6.3 item 5: invalid framing).
    """
    if end.end() > max_head:
        return too_long(raw, max_head)
    head = raw[: end.start()]
    if _CONTROL.search(head) is not None:
        return 400, "control character in the request head"
    lower = head.lower()
    if _CONTENT_LENGTH not in lower:
        return None
    return content_length_problem(lower)


def content_length_problem(lower: bytes | bytearray) -> tuple[int, str] | None:
    """A second Content-Length field, or a list or folded value, in the lowercased head
    ``lower`` (its first field line follows a LF)."""
    at = lower.find(_CONTENT_LENGTH)
    if at >= 0:
        if lower.find(_CONTENT_LENGTH, at + 1) >= 0:
            return 400, "more than one Content-Length header"
        line_end = lower.find(b"\n", at + 1)
        if line_end < 0:  # the last field of the head
            value, folded = lower[at + len(_CONTENT_LENGTH) :], False
        else:
            value = lower[at + len(_CONTENT_LENGTH) : line_end]
            folded = lower[line_end + 1 : line_end + 2] in (b" ", b"\t")
        if b"," in value or folded:
            return 400, "Content-Length is not a single number"
    return None


def too_long(buffered: bytes | bytearray, max_head: int) -> tuple[int, str]:
    """A head (complete or not) longer than ``max_head``: 414 when no line has ended within
    the limit (the request line is what does not fit), 431 otherwise."""
    if b"\n" not in buffered[:max_head]:
        return 414, "request line too long"
    return 431, "request head too long"
