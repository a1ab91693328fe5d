"""The ``httptools`` parser: llhttp (through httptools) parses the header fields.

llhttp parses everything it is fed and reports no positions, so fed a whole read it would run on
into the requests pipelined behind the current one, and their raw heads (which
``raw_head_problem`` checks) could no longer be told apart. So llhttp is only ever fed one request
head, and the rest is read here, the way h11 reads it:

- the end of the head is found first (``HEAD_END``), with h11's limits: an incomplete head longer
  than ``max_head`` is refused with 414 or 431, a complete one is checked by ``raw_head_problem``;
- the request line is matched against h11's grammar (RFC 9112 §3: one space between the parts, a
  method is any token). llhttp knows only a fixed list of methods and accepts runs of spaces, so
  it is given a fixed request line followed by the client's header section;
- after the head, the body is framed here: Content-Length bytes are sliced off the buffer, and a
  chunked body is decoded with h11's rules (RFC 9112 §7.1; trailer fields are checked, then
  discarded). The next request stays unparsed in the buffer until ``next_cycle``, as with h11,
  which is what ``PAUSED`` means.

Where llhttp alone would decide differently from h11 (obsolete line folding, bare LF line endings,
duplicate ``Transfer-Encoding``, ``Upgrade`` without ``Connection: upgrade``), the outcome is
made h11's, so the ``http`` setting changes speed, not which requests are accepted.
"""

from __future__ import annotations

import re
from typing import Any

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from . import (
    HEAD_END,
    Events,
    ParserError,
    content_length_problem,
    raw_head_problem,
    too_long,
)


class Request:
    """A request head (the same attributes as ``h11.Request``)."""

    __slots__ = ("method", "target", "http_version", "headers")

    def __init__(
        self,
        method: bytes,
        target: bytes,
        http_version: bytes,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.method = method
        self.target = target
        self.http_version = http_version
        self.headers = headers

    def __repr__(self) -> str:
        return (
            f"Request(method={self.method!r}, target={self.target!r}, "
            f"http_version={self.http_version!r}, headers={self.headers!r})"
        )


class Data:
    """A piece of the decoded request body."""

    __slots__ = ("data",)

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Data(<{len(self.data)} bytes>)"


class EndOfMessage:
    __slots__ = ()

    def __repr__(self) -> str:
        return "EndOfMessage()"


class ConnectionClosed:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ConnectionClosed()"


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA = _Sentinel("NEED_DATA")
PAUSED = _Sentinel("PAUSED")
_END = EndOfMessage()
# Between request heads (llhttp's on_header only runs inside _read_head, which sets a new list).
_NO_HEADERS: Any = ()
_CLOSED = ConnectionClosed()

# h11's grammar (its _abnf module), from RFC 9110 §5.6.2 and RFC 9112 §3, §5 and §7.1.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/([0-9]\.[0-9])")
# Chunk extensions are ignored whole, as h11 does (RFC 9112 §7.1.1 lets a recipient ignore them);
# whitespace before the line end is accepted, as h11 does.
_CHUNK_HEADER = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*\r\n")
_FIELD = re.compile(_TOKEN + rb":[ \t]*(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?[ \t]*")
_FOLD = re.compile(rb"[ \t]+")
# An obsolete line folding, or a line ending in a bare LF: what llhttp is not given as is.
_UNUSUAL = re.compile(rb"\A[ \t]|\n[ \t]|(?<!\r)\n")
# The control characters h11 accepts in a field value (not NUL, VT or FF, which are no
# field-vchar to it), for raw_head_problem to refuse.
_H11_CONTROL = re.compile(rb"[\x01-\x08\x0e-\x1f\x7f]")
#: What llhttp is given in place of the client's request line, which is checked here.
_LLHTTP_LINE = b"GET / HTTP/1.1\r\n"
#: h11 refuses longer Content-Length values (llhttp only refuses values beyond 2**64).
_MAX_LENGTH_DIGITS = 20
_SPECIAL = frozenset(
    (b"host", b"content-length", b"transfer-encoding", b"expect", b"upgrade", b"connection")
)

# Where the client is in its request.
_HEAD = 0  # reading a request head
_LENGTH = 1  # reading a Content-Length body
_CHUNKED = 2  # reading a chunked body
_END_DUE = 3  # the body is complete; EndOfMessage is the next event
_DONE = 4  # the request is complete; what follows waits for next_cycle
_SWITCHING = 5  # complete, with an Upgrade offer: like h11, nothing more is read
_ERROR = 6


def _llhttp_error(exc: Exception, section: bytes | bytearray) -> tuple[int, str]:
    """llhttp's complaint about a header ``section``, with h11's status and words for it."""
    text = str(exc)
    if "Transfer-Encoding" in text:
        # h11 judges the coding before anything else about the framing: any coding other than
        # "chunked" is a 501 even beside a Content-Length, which llhttp complains about first.
        codings = [
            line[18:].strip(b" \t").lower()
            for line in _lines(section)
            if line[:18].lower() == b"transfer-encoding:"
        ]
        if len(codings) > 1:
            return 501, "multiple Transfer-Encoding headers"
        if codings and codings[0] != b"chunked":
            return 501, "Only Transfer-Encoding: chunked is supported"
        if "Content-Length" in text:
            return 400, "both Content-Length and Transfer-Encoding"
        # A transfer coding other than one "chunked" (RFC 9112 §6.1: 501 for a coding the
        # server does not understand, which is what h11 answers).
        return 501, "Only Transfer-Encoding: chunked is supported"
    if "header value char" in text and _H11_CONTROL.search(section) is not None:
        # A control character h11 lets through, for raw_head_problem to refuse: say it so.
        return 400, "control character in the request head"
    if "Content-Length" in text:
        # Said the way the h11 path says it (h11 merges a repeated or listed Content-Length
        # of one value, then raw_head_problem refuses it).
        problem = content_length_problem(b"\n" + section.lower())
        if problem is not None:
            return problem
        return 400, "bad Content-Length"
    return 400, "illegal header line"


def _fold(lines: list[bytes | bytearray]) -> list[bytes | bytearray]:
    """Replace each obsolete line folding with one space (RFC 9112 §5.2 allows a server to),
    as h11 does; a continuation with nothing to continue is an error."""
    out: list[bytes | bytearray] = []
    for line in lines:
        match = _FOLD.match(line)
        if match is None:
            out.append(line)
        elif not out:
            raise ParserError(400, "continuation line at start of headers")
        else:
            out[-1] = out[-1] + b" " + line[match.end() :]
    return out


def _lines(section: bytes | bytearray) -> list[bytes | bytearray]:
    """The lines of a header section that ends with its blank line, without line endings."""
    lines = [line[:-1] if line[-1:] == b"\r" else line for line in section.split(b"\n")]
    del lines[-2:]
    return lines


class HttptoolsParser:
    events = Events(Request, Data, EndOfMessage, ConnectionClosed, NEED_DATA, PAUSED)
    errors = ParserError

    __slots__ = (
        "_max_head",
        "_buf",
        "_closed",
        "_state",
        "_searched",
        "_length",
        "_left",
        "_discard",
        "_trailer",
        "_upgrade",
        "_final",
        "_headers",
        "_headers_done",
        "_error",
        "they_are_waiting_for_100_continue",
    )

    def __init__(self, max_head: int) -> None:
        self._max_head = max_head
        self._buf: bytes | bytearray = b""
        self._closed = False
        self._state = _HEAD
        self._searched = 0
        self._length = 0
        self._left = 0
        self._discard = b""
        self._trailer = False
        self._upgrade = False
        self._final = False
        self._headers: list[tuple[bytes, bytes]] = _NO_HEADERS
        self._headers_done = False
        self._error: ParserError | None = None
        self.they_are_waiting_for_100_continue = False

    # -- the parser interface ------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if not data:
            self._closed = True
            return
        buf = self._buf
        if not buf:
            self._buf = data
        elif type(buf) is bytearray:
            buf += data
        else:
            grown = bytearray(buf)
            grown += data
            self._buf = grown

    def next_event(self) -> Any:
        state = self._state
        if state == _HEAD:
            return self._read_head()
        if state == _DONE:
            if self._buf:
                if self._final:
                    # As h11: nothing may follow a request that ends the connection (HTTP/1.0,
                    # or Connection: close) while it is in flight; once it is answered,
                    # ``next_cycle`` (an HTTP/1.0 keep-alive) reads on.
                    raise self._fail(400, "Got data when expecting EOF")
                return PAUSED
            return _CLOSED if self._closed else NEED_DATA
        if state == _END_DUE:
            return self._end()
        if state == _LENGTH:
            buf = self._buf
            if not buf:
                if self._closed:
                    raise self._fail(
                        400,
                        "peer closed connection without sending complete message body "
                        f"(received {self._length - self._left} bytes, expected {self._length})",
                    )
                return NEED_DATA
            left = self._left
            if len(buf) > left:
                data = buf[:left]
                self._consume(left)
                left = 0
            else:
                data = buf
                self._buf = b""
                left -= len(data)
            self._left = left
            if not left:
                self._state = _END_DUE
            self.they_are_waiting_for_100_continue = False
            return Data(data)
        if state == _CHUNKED:
            return self._read_chunked()
        if state == _SWITCHING:
            return PAUSED
        assert self._error is not None
        raise self._error

    def check_head(self) -> tuple[int, str] | None:
        # Done before the Request event was produced: see _read_head.
        return None

    def error_reason(self, exc: Exception) -> tuple[int, str]:
        assert isinstance(exc, ParserError)
        return exc.status, exc.reason

    def buffered(self) -> int:
        return len(self._buf)

    def next_cycle(self) -> tuple[HttptoolsParser, bool]:
        self._state = _HEAD
        self._searched = 0
        self._upgrade = False
        self._final = False
        self._headers = _NO_HEADERS
        return self, bool(self._buf) or self._closed

    def set_aside(self) -> HttptoolsParser:
        # Already small (a few integers and the buffer) once the head's fields are let go.
        self._headers = _NO_HEADERS
        return self

    @property
    def message_complete(self) -> bool:
        return self._state == _DONE

    @property
    def receiving_body(self) -> bool:
        state = self._state
        return state == _LENGTH or state == _CHUNKED or state == _END_DUE

    # -- llhttp's callbacks --------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp drops the whitespace before a value, not the whitespace after it.
        self._headers.append((name.lower(), value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        self._headers_done = True

    # -- reading -------------------------------------------------------------------------------

    def _consume(self, count: int) -> None:
        """Drop the first ``count`` bytes of the buffer. What is left is kept in a bytearray,
        whose front is dropped in place: many requests or chunks in one read cost no more than
        reading it once."""
        buf = self._buf
        if count >= len(buf):
            self._buf = b""
        elif type(buf) is bytearray:
            del buf[:count]
        else:
            self._buf = bytearray(memoryview(buf)[count:])

    def _fail(self, status: int, reason: str) -> ParserError:
        self._state = _ERROR
        self._error = error = ParserError(status, reason)
        return error

    def _read_head(self) -> Any:
        buf = self._buf
        if not buf:
            return _CLOSED if self._closed else NEED_DATA
        first = buf[0]
        # h11 does not skip an empty line before the request line (RFC 9112 §2.2 only says a
        # server SHOULD); nor does this parser, so both answer such a request the same way.
        if first == 10 or (first == 13 and buf[1:2] == b"\n"):
            raise self._fail(400, "no request line received")
        end = HEAD_END.search(buf, self._searched)
        if end is None:
            if first < 0x21:
                # Not the start of a request line (a TLS handshake, say): refuse it now rather
                # than wait for a head that will never end.
                raise self._fail(400, "illegal request line")
            if len(buf) > self._max_head:
                raise self._fail(*too_long(buf, self._max_head))
            if self._closed:
                raise self._fail(400, "peer unexpectedly closed connection")
            self._searched = max(0, len(buf) - 2)
            return NEED_DATA
        self._searched = 0
        line_end = buf.find(b"\n")
        request_line = _REQUEST_LINE.fullmatch(
            buf, 0, line_end - 1 if buf[line_end - 1] == 13 else line_end
        )
        if request_line is None:
            raise self._fail(400, "illegal request line")
        head_end = end.end()
        section = buf[line_end + 1 : head_end]
        bare_lf = False
        if _UNUSUAL.search(section) is not None:
            if section[:1] in (b" ", b"\t") or b"\n " in section or b"\n\t" in section:
                try:
                    lines = _fold(_lines(section))
                except ParserError as exc:
                    raise self._fail(exc.status, exc.reason) from None
                section = b"".join(line + b"\r\n" for line in lines) + b"\r\n"
            else:
                bare_lf = True

        headers: list[tuple[bytes, bytes]] = []
        self._headers = headers
        self._headers_done = False
        parser = HttpRequestParser(self)
        if bare_lf:
            # Bare LF line endings: RFC 9112 §2.2 lets a recipient accept them, and h11 does.
            parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True)
        try:
            parser.feed_data(_LLHTTP_LINE + section)
        except HttpParserUpgrade:
            pass  # the head is complete; an Upgrade offer is handled below, as h11 does
        except HttpParserError as exc:
            raise self._fail(*_llhttp_error(exc, section)) from None
        if not self._headers_done:  # pragma: no cover - the section ends with its blank line
            raise self._fail(400, "illegal header line")

        method, target, version = request_line.groups()
        if type(buf) is not bytes:
            method, target, version = bytes(method), bytes(target), bytes(version)
        # The checks h11 makes on a request head (h11/_headers.py and h11/_events.py).
        hosts = 0
        chunked = False
        length: bytes | None = None
        expect = False
        upgrade = method == b"CONNECT"
        final = version < b"1.1"
        for name, value in headers:
            if name not in _SPECIAL:
                continue
            if name == b"host":
                hosts += 1
            elif name == b"content-length":
                if len(value) > _MAX_LENGTH_DIGITS:
                    raise self._fail(400, "bad Content-Length")
                length = value
            elif name == b"transfer-encoding":
                if chunked:
                    raise self._fail(501, "multiple Transfer-Encoding headers")
                if value != b"chunked":
                    if value.lower() != b"chunked":
                        raise self._fail(501, "Only Transfer-Encoding: chunked is supported")
                    # Transfer codings are case-insensitive (RFC 9112 §7); h11 lowercases it.
                    at = headers.index((name, value))
                    headers[at] = (name, b"chunked")
                chunked = True
            elif name == b"connection":
                lowered = value.lower()
                if b"close" in lowered:  # then is it the token "close"?
                    final = final or b"close" in {t.strip(b" \t") for t in lowered.split(b",")}
            elif name == b"expect":
                tokens = {token.strip(b" \t").lower() for token in value.split(b",")}
                expect = expect or b"100-continue" in tokens
            elif any(token.strip(b" \t") for token in value.split(b",")):  # upgrade
                upgrade = True
        if hosts == 0 and version == b"1.1":
            raise self._fail(400, "Missing mandatory Host: header")
        if hosts > 1:
            raise self._fail(400, "Found multiple Host: headers")
        problem = raw_head_problem(buf, end, self._max_head)
        if problem is not None:
            raise self._fail(*problem)

        if head_end == len(buf):
            self._buf = b""
        else:
            self._consume(head_end)
        self._upgrade = upgrade
        self._final = final
        self.they_are_waiting_for_100_continue = expect and version >= b"1.1"
        if chunked:
            self._state = _CHUNKED
            self._left = 0
            self._discard = b""
            self._trailer = False
        elif length is not None and int(length):
            self._state = _LENGTH
            self._length = self._left = int(length)
        else:
            self._state = _END_DUE
        return Request(method, target, version, headers)

    def _end(self) -> EndOfMessage:
        # An Upgrade offer leaves the connection to whoever accepts it; nobody does here, so
        # (as with h11) nothing more is parsed and the connection closes after the response.
        self._state = _SWITCHING if self._upgrade else _DONE
        self.they_are_waiting_for_100_continue = False
        return _END

    def _need_body_data(self) -> Any:
        if self._closed:
            raise self._fail(
                400,
                "peer closed connection without sending complete message body "
                "(incomplete chunked read)",
            )
        if len(self._buf) > self._max_head:
            raise self._fail(400, "chunk line too long")
        return NEED_DATA

    def _read_chunked(self) -> Any:
        """h11's chunked reader: a size line, that many bytes, CRLF; size 0 ends the chunks and
        a header section of trailer fields (possibly empty) ends the message."""
        while True:
            buf = self._buf
            if self._trailer:
                return self._read_trailer()
            if self._discard:
                if not buf:
                    return self._need_body_data()
                expected = self._discard
                piece = buf[: len(expected)]
                if piece != expected[: len(piece)]:
                    raise self._fail(400, "malformed chunk footer")
                self._consume(len(piece))
                self._discard = expected[len(piece) :]
                continue
            left = self._left
            if not left:
                line_end = buf.find(b"\r\n")
                if line_end < 0:
                    return self._need_body_data()
                header = _CHUNK_HEADER.fullmatch(buf, 0, line_end + 2)
                if header is None:
                    raise self._fail(400, "illegal chunk header")
                left = int(header.group(1), 16)
                self._consume(line_end + 2)
                buf = self._buf
                if not left:
                    self._trailer = True
                    continue
            if not buf:
                self._left = left
                return self._need_body_data()
            if len(buf) > left:
                data = buf[:left]
                self._consume(left)
                left = 0
            else:
                data = buf
                self._buf = b""
                left -= len(data)
            self._left = left
            if not left:
                self._discard = b"\r\n"
            self.they_are_waiting_for_100_continue = False
            return Data(data)

    def _read_trailer(self) -> Any:
        buf = self._buf
        if buf[:1] == b"\n":
            self._consume(1)
        elif buf[:2] == b"\r\n":
            self._consume(2)
        else:
            end = HEAD_END.search(buf)
            if end is None:
                return self._need_body_data()
            try:
                lines = _fold(_lines(buf[: end.end()]))
            except ParserError as exc:
                raise self._fail(exc.status, exc.reason) from None
            for line in lines:
                if _FIELD.fullmatch(line) is None:
                    raise self._fail(400, "illegal header line")
            self._consume(end.end())
        return self._end()
