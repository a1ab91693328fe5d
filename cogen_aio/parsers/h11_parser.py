"""The default parser: h11, used as its push recipe says (feed ``receive_data``, loop
``next_event`` until ``NEED_DATA``; ``PAUSED`` means the next pipelined request is buffered).

:class:`H11Parser` *is* an ``h11.Connection``: ``receive_data`` keeps a reference to the bytes of
the head being received (see ``check_head``), ``next_event`` is h11's own, and its events are
h11's. Responses are framed by :mod:`cogen_aio.wsgi.runner`, not by h11's ``send()``, so h11 never
sees them and cannot start a new cycle by itself: after each request, ``next_cycle`` hands the
bytes it had not processed (``trailing_data``) to a fresh parser. That is also what lets an
HTTP/1.0 client keep its connection alive, which h11 alone refuses.
"""

from __future__ import annotations

import re

import h11

from . import HEAD_END, Answering, Events, raw_head_problem, too_long

# h11's messages may end with the offending bytes ("illegal header line: b'...'"); the client
# sent them, it does not need them back.
_ECHOED = re.compile(r": (?:b'|b\"|bytearray\()")

_receive = h11.Connection.receive_data


def new_parser(max_head: int) -> H11Parser:
    """The parser for a new connection's first request; ``max_head`` is h11's
    ``max_incomplete_event_size``."""
    parser = H11Parser(h11.SERVER, max_incomplete_event_size=max_head)
    parser._max_head = max_head
    parser._head_pending = True
    parser._head_chunks = []
    return parser


class H11Parser(h11.Connection):
    """Created by :func:`new_parser`, then by ``next_cycle`` (h11's own constructor, which is
    all the per-request cost: no ``__init__`` of its own)."""

    events = Events(
        h11.Request, h11.Data, h11.EndOfMessage, h11.ConnectionClosed, h11.NEED_DATA, h11.PAUSED
    )
    errors = h11.RemoteProtocolError

    _max_head: int
    # The bytes received since the current request head started, kept (by reference, not
    # copied) until h11 has parsed that head and ``check_head`` has looked at them. (Set on
    # each instance, always in the same order, so that attribute reads stay fast.)
    _head_pending: bool
    _head_chunks: list[bytes]

    def receive_data(self, data: bytes) -> None:
        if self._head_pending:
            self._head_chunks.append(data)
        _receive(self, data)

    def check_head(self) -> tuple[int, str] | None:
        chunks = self._head_chunks
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._head_chunks = []
        self._head_pending = False
        end = HEAD_END.search(raw)
        if end is None:  # pragma: no cover - h11 produced a Request from these bytes
            return None
        return raw_head_problem(raw, end, self._max_head)

    def error_reason(self, exc: Exception) -> tuple[int, str]:
        status: int = getattr(exc, "error_status_hint", 400)
        reason = _ECHOED.split(str(exc), 1)[0]
        if status == 431:
            # h11's "Receive buffer too long": an incomplete event beyond the limit.
            if self._head_pending:
                return too_long(self.trailing_data[0], self._max_head)
            # Past the head, the only lines h11 buffers are chunk-size lines and trailers.
            return 400, "chunk line too long"
        return status, reason

    def buffered(self) -> int:
        return len(self.trailing_data[0])

    def next_cycle(self) -> tuple[H11Parser, bool]:
        data, closed = self.trailing_data
        max_head = self._max_head
        parser = H11Parser(h11.SERVER, max_incomplete_event_size=max_head)
        parser._max_head = max_head
        parser._head_pending = True
        if data:
            parser._head_chunks = [data]
            _receive(parser, data)
        else:
            parser._head_chunks = []
        if closed:
            _receive(parser, b"")
        return parser, bool(data) or closed

    def set_aside(self) -> H11Parser | Answering:
        if self.their_state is not h11.DONE:
            return self  # MUST_CLOSE: h11 refuses what follows, keep it to say so
        data, closed = self.trailing_data
        return Answering(self, new_parser, self._max_head, data, closed)

    @property
    def message_complete(self) -> bool:
        state = self.their_state
        return state is h11.DONE or state is h11.MUST_CLOSE

    @property
    def receiving_body(self) -> bool:
        return self.their_state is h11.SEND_BODY
