"""One HTTP/1.1 connection: bytes in through a request parser, responses out through the WSGI
runner.

The parser (:mod:`cogen_aio.parsers`, h11 or httptools per the ``http`` setting) turns bytes into
request events; everything else about the connection is here: keep-alive and pipelining, timers,
draining unread bodies, flow control and error responses. The events are pulled one at a time
(h11's push recipe: feed ``receive_data``, loop ``next_event`` until ``NEED_DATA``); ``PAUSED``
means the next pipelined request is already buffered, and it waits, unparsed, until the current
response is done. Responses are framed by :mod:`cogen_aio.wsgi.runner`, not by the parser, and
after each one ``next_cycle`` gives the parser for the next request. Whether the connection
persists is decided here (RFC 9112 §9.3), which is also what lets an HTTP/1.0 client keep its
connection alive, which h11 alone refuses. What the runner writes is held until the loop's turn
ends and leaves in one send (:mod:`cogen_aio.coalescing`); a close or a sendfile hands over
what is held first, an abort drops it.

Timers (all on the loop's clock; one per purpose, never one per chunk):
- header: the whole request head must arrive within ``timeout_header`` of its first byte (for a
  new connection, of the accept) — slowloris;
- keep-alive: an idle persistent connection waits ``timeout_keep_alive`` for its next request;
- body: while the server waits for request body bytes, a gap longer than ``timeout_body``;
- write: a client that stops reading keeps the send buffer full longer than ``timeout_write``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any, Callable

from . import coalescing
from .parking import CogenProxy, install
from .parsers import parser_class
from .response import simple_response
from .wsgi.body import (
    EMPTY_BODY,
    EMPTY_INPUT,
    BodyIncomplete,
    BodyTooLarge,
    CogenInput,
    InputStream,
    RequestBody,
)
from .wsgi.environ import (
    BadRequest,
    ConnectionInfo,
    build_environ,
    connection_info,
    request_keep_alive,
)
from .wsgi.runner import Exchange

if TYPE_CHECKING:
    from .parsers import RequestParser
    from .server import ServerState

error_log = logging.getLogger("cogen_aio.error")
access_log = logging.getLogger("cogen_aio.access")

#: An unread request body smaller than this is read and discarded so the connection can be
#: reused; a larger one is not worth receiving and the connection is closed instead.
DRAIN_LIMIT = 1 << 20
#: After an error response, how long to keep discarding what the client still sends, so that
#: closing does not turn into a reset that destroys the response in flight (RFC 9112 §9.6).
LINGER_SECONDS = 2.0
#: How much of the requests pipelined behind the one in flight is read ahead before reading
#: pauses (the parser holds it unparsed).
PIPELINE_BUFFER = 65536

_PHRASES = {
    400: "Bad Request",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}


class HttpProtocol(asyncio.Protocol):
    # Slots: ten thousand parked long-polls are ten thousand of these.
    __slots__ = (
        "state",
        "config",
        "loop",
        "app",
        "server_line",
        "date",
        "parser",
        "transport",
        "exchange",
        "body",
        "connection",
        "write_paused",
        "_held_out",
        "_held_size",
        "_close_after_response",
        "_on_writable",
        "_reading_paused",
        "_processing",
        "_closing",
        "_waiting_body",
        "_continued",
        "_draining",
        "_cycle_pending",
        "_drained",
        "_read_timer",
        "_read_deadline",
        "_read_timer_kind",
        "_write_timer",
        "_linger",
        "__weakref__",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.config = config = state.config
        self.loop = state.loop
        self.app = state.app
        self.server_line = state.server_line
        self.date = state.date
        make_parser = parser_class(config.http)
        self.parser: RequestParser = make_parser(config.h11_max_incomplete_event_size)
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.body: RequestBody | None = None
        self.connection: ConnectionInfo | None = None
        self.write_paused = False
        # Bytes written and not yet handed to the transport (see cogen_aio.coalescing).
        self._held_out: list[bytes] | None = None
        self._held_size = 0
        self._close_after_response = False
        self._on_writable: Callable[[], None] | None = None
        self._reading_paused = False
        self._processing = False
        self._closing = False
        self._waiting_body = False
        self._continued = False
        self._draining = False
        self._cycle_pending = False
        self._drained = 0
        self._read_timer: asyncio.TimerHandle | None = None
        self._read_deadline: float | None = None
        self._read_timer_kind = ""
        self._write_timer: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                # Small responses must not wait for the client's delayed ACK (Nagle).
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - platform specific
                pass
        self.connection = connection_info(
            transport.get_extra_info("peername"),
            transport.get_extra_info("sockname"),
        )
        self.state.connections.add(self)
        self._arm_read_timer(self.config.timeout_header, "header")

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return  # lingering after an error response: discard
        kind = self._read_timer_kind
        if kind == "keep-alive":
            # A new request starts: its head must arrive within timeout_header. The deadline is
            # set once this read has been parsed, and only if the head did not arrive whole
            # with it (it usually does, and is then answered or parked meanwhile).
            self._read_timer_kind = "header"
            self._read_deadline = None
            self.parser.receive_data(data)
            self._process()
            if self._read_timer_kind == "header" and self._read_deadline is None:
                self._arm_read_timer(self.config.timeout_header, "header")
            return
        if kind == "body":
            self._arm_read_timer(self.config.timeout_body, "body")
        self.parser.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        if self._closing:
            return None
        if self.exchange is not None:
            # The client closed its side while its request is in flight: browsers and HTTP
            # clients do that when they give up, so treat it as gone (as uvicorn does).
            return None
        self.parser.receive_data(b"")
        self._process()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self.state.connections.discard(self)
        self._drop_read_timer()
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self._on_writable = None
        self._held_out = None
        exchange = self.exchange
        if exchange is not None:
            self.exchange = None
            exchange.client_gone()
        body = self.body
        if body is not None:
            self.body = None
            body.fail(BodyIncomplete("the client went away"))
            body.close()
        self.transport = None
        self.state.connection_closed()

    def pause_writing(self) -> None:
        self.write_paused = True
        timeout = self.config.timeout_write
        if timeout is not None:
            self._write_timer = self.loop.call_later(timeout, self._write_timed_out)

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        callback = self._on_writable
        if callback is not None:
            self._on_writable = None
            self.loop.call_soon(callback)

    # -- used by the runner --------------------------------------------------------------------

    @property
    def closing_after_response(self) -> bool:
        """Whether the connection closes once the current response is done.

        Also true while the client still waits for ``100 Continue``: a response that did not
        ask for the body leaves the client free never to send it (RFC 9110 §10.1.1), so its
        next bytes could be either that body or a new request, and only closing is safe.
        """
        if self._close_after_response:
            return True
        body = self.body
        if body is None or body.complete:
            return False
        if not self._continued and self.parser.they_are_waiting_for_100_continue:
            return True
        # More body still to come than is worth draining if the app does not read it: say now
        # that the connection closes, rather than close it under a response announcing more.
        exchange = self.exchange
        length = exchange.proxy.content_length if exchange is not None else None
        return length is not None and length - body.received > DRAIN_LIMIT

    def write(self, data: bytes) -> None:
        if self.transport is None or self._closing:
            return
        held = self._held_out
        if held is None:
            if len(data) >= coalescing.LIMIT:
                self.transport.write(data)
                return
            self._held_out = [data]
            self._held_size = len(data)
            self.state.writes.schedule(self)
            return
        held.append(data)
        self._held_size += len(data)
        if self._held_size >= coalescing.LIMIT:
            self.flush()

    def flush(self) -> None:
        """Hand the bytes held back to the transport (before anything else touches it)."""
        held = self._held_out
        if held is not None:
            self._held_out = None
            if self.transport is not None:
                self.transport.write(held[0] if len(held) == 1 else b"".join(held))

    def when_writable(self, callback: Callable[[], None]) -> None:
        self._on_writable = callback

    def can_sendfile(self) -> bool:
        # uvloop inherits AbstractEventLoop.sendfile, which only raises NotImplementedError.
        return (
            type(self.loop).sendfile is not asyncio.AbstractEventLoop.sendfile
            and self.transport is not None
            and self.transport.get_extra_info("sslcontext") is None
        )

    async def sendfile(self, file: Any, offset: int, count: int) -> int:
        assert self.transport is not None
        self.flush()
        return await self.loop.sendfile(self.transport, file, offset, count)

    def response_done(self, exchange: Exchange, keep_alive: bool) -> None:
        if self.state.access_log:
            self._log_access(exchange)
        if self.exchange is not exchange:
            return
        closing = not keep_alive or self.closing_after_response or self.transport is None
        self.exchange = None
        self._release_body()
        parser = self.parser
        if closing:
            # A client still sending its body gets the response before the close (see _close).
            self._close(linger=parser.receiving_body)
            return
        if parser.message_complete:
            if not self._next_cycle():
                return  # nothing to read until the client sends more
        elif parser.receiving_body and self._start_draining():
            pass
        else:
            # Nothing that can be read as a next request: an Upgrade offer (h11 stops reading
            # after one) or a parser in error.
            self._close()
            return
        if not self._processing:
            self._process()

    def response_aborted(self, exchange: Exchange) -> None:
        if self.state.access_log:
            self._log_access(exchange)
        self.exchange = None
        self._release_body()
        self._close()

    # -- request cycle -------------------------------------------------------------------------

    def _process(self) -> None:
        """Handle every event the parser can produce from what has been received."""
        if self._processing:
            return
        self._processing = True
        # The parser object changes with each request (``_next_cycle``), its event types do not.
        Request, Data, EndOfMessage, ConnectionClosed, NEED_DATA, PAUSED = self.parser.events
        try:
            while not self._closing:
                parser = self.parser
                try:
                    event = parser.next_event()
                except parser.errors as exc:
                    self._protocol_error(exc)
                    return
                kind = type(event)
                if kind is Data:
                    self._on_data(event.data)
                elif kind is Request or kind is EndOfMessage:
                    if kind is Request:
                        self._on_request(event)
                    else:
                        self._on_end()
                    if self.parser is not parser and not self._cycle_pending:
                        return  # answered, and nothing of a next request is here yet
                elif event is NEED_DATA:
                    if self.exchange is None:
                        if self._reading_paused:
                            self._resume_reading()
                    elif parser.message_complete:
                        # The response is on its way, maybe for minutes: keep less meanwhile
                        # (no read deadline applies until it is done).
                        self.parser = parser.set_aside()
                        self._drop_read_timer()
                    return
                elif event is PAUSED:
                    # The next request is buffered while this one is in flight: it waits until
                    # the response is done (pipelining, responses in order). Reading goes on, so
                    # a client that leaves is still noticed, until PIPELINE_BUFFER bytes wait.
                    if self.exchange is not None:
                        self.parser = parser = parser.set_aside()
                    if parser.buffered() > PIPELINE_BUFFER:
                        self._pause_reading()
                    return
                elif kind is ConnectionClosed:
                    self._close()
                    return
        finally:
            self._processing = False

    def _on_request(self, request: Any) -> None:
        self._cancel_read_timer()
        config = self.config
        problem = self.parser.check_head()
        if problem is not None:
            status, reason = problem
            self._reject(status, f"{_PHRASES[status]}: {reason}")
            return
        if (
            config.limit_concurrency is not None
            and len(self.state.connections) > config.limit_concurrency
        ):
            self._reject(503, "Service Unavailable: too many connections", linger=False)
            return
        if request.http_version[:2] != b"1.":
            self._reject(505, "HTTP Version Not Supported")
            return
        try:
            environ = build_environ(
                self.state.base_environ,
                self.connection,  # type: ignore[arg-type]
                request.method,
                request.target,
                request.http_version,
                request.headers,
            )
        except BadRequest as exc:
            phrase = "Bad Request" if exc.status == 400 else "Not Implemented"
            self._reject(exc.status, f"{phrase}: {exc}")
            return
        chunked = "HTTP_TRANSFER_ENCODING" in environ
        length_text = environ.get("CONTENT_LENGTH")
        if chunked and length_text is not None:
            # RFC 9112 §6.1 and §6.3: both framings at once is how requests are smuggled.
            self._reject(400, "Bad Request: both Content-Length and Transfer-Encoding")
            return
        if chunked and request.http_version == b"1.0":
            # RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding must be treated as
            # having faulty framing (a 1.0 hop in between did not decode it).
            self._reject(400, "Bad Request: Transfer-Encoding in an HTTP/1.0 request")
            return
        length = int(length_text) if length_text else 0
        if length > config.limit_request_body:
            self._reject(413, "Content Too Large")
            return
        has_body = chunked or length > 0
        proxy = CogenProxy(length or None)
        if has_body:
            body = RequestBody(
                config.limit_request_body,
                None if config.stream_input else config.input_spool_size,
                self._send_100_continue,
                self._pause_reading,
                self._resume_reading,
            )
            environ["wsgi.input"] = InputStream(body)
        else:
            body = EMPTY_BODY
            environ["wsgi.input"] = EMPTY_INPUT
            # Nothing to wait for: take the message's (empty) end now, so the request already
            # counts as complete when an app answers within this call.
            self.parser.next_event()
        install(environ, proxy, CogenInput(body, proxy), config.legacy_environ)
        version = request.http_version
        exchange = Exchange(
            self,
            environ,
            proxy,
            body,
            request.method == b"HEAD",
            version == b"1.0",
            request_keep_alive(version, environ.get("HTTP_CONNECTION")),
        )
        self.exchange = exchange
        self.body = body
        self._continued = False
        self.state.requests += 1
        if has_body:
            self._arm_read_timer(config.timeout_body, "body")
            if not config.stream_input:
                # The app is called once the whole body is here; it is needed now, so answer an
                # Expect: 100-continue at once (RFC 9110 §10.1.1).
                self._waiting_body = True
                self._send_100_continue()
                return
        exchange.run(self.app)

    def _on_data(self, data: bytes) -> None:
        if self._draining:
            self._drained += len(data)
            if self._drained > DRAIN_LIMIT:
                # Not worth receiving: close, but lingering, so that the reset a close with
                # unread input causes does not destroy the response the client has yet to read.
                self._close(linger=True)
            return
        body = self.body
        if body is None:
            return
        body.feed(data)
        if body.error is not None:
            self._body_failed(body.error)

    def _on_end(self) -> None:
        if self._draining:
            self._draining = False
            self._next_cycle()
            return
        self._cancel_read_timer()
        body = self.body
        if body is None:
            return
        body.finish()
        if self._waiting_body:
            self._waiting_body = False
            exchange = self.exchange
            assert exchange is not None
            # A chunked body is known in full now: give legacy apps its length (waitress does).
            exchange.environ["CONTENT_LENGTH"] = str(body.received)
            exchange.proxy.content_length = body.received or None
            exchange.run(self.app)

    def _body_failed(self, error: BaseException) -> None:
        if self._waiting_body:
            status = 413 if isinstance(error, BodyTooLarge) else 400
            self.exchange = None
            self._reject(status, "Content Too Large" if status == 413 else "Bad Request")
            return
        # Streaming: the app's pending read gets the error; the connection cannot be reused.
        self._close_after_response = True
        self._pause_reading()

    def _next_cycle(self) -> bool:
        """Start reading the next request; whether there is anything to read yet."""
        self.parser, pending = self.parser.next_cycle()
        self._cycle_pending = pending
        if pending:
            self._arm_read_timer(self.config.timeout_header, "header")
        else:
            self._arm_read_timer(self.config.timeout_keep_alive, "keep-alive")
        if self._reading_paused:
            self._resume_reading()
        return pending

    def _start_draining(self) -> bool:
        """The app left (part of) the body unread: discard up to DRAIN_LIMIT bytes of it (more
        closes the connection, see ``_on_data``), never parse it as the next request."""
        self._draining = True
        self._drained = 0
        self._resume_reading()
        self._arm_read_timer(self.config.timeout_body, "body")
        return True

    def _release_body(self) -> None:
        body = self.body
        if body is not None:
            self.body = None
            body.close()

    # -- errors and closing ----------------------------------------------------------------------

    def _protocol_error(self, exc: Exception) -> None:
        status, reason = self.parser.error_reason(exc)
        if self._draining:
            # The body being discarded belongs to a request already answered: a second
            # response would be unsolicited, so only close.
            error_log.debug("closing: %s in an unread request body", reason)
            self._close()
            return
        if self.exchange is not None and not self._waiting_body:
            # Broken framing in the body of a request the app is already serving.
            if self.body is not None:
                self.body.fail(BodyIncomplete(reason))
            self._close_after_response = True
            self._pause_reading()
            return
        self.exchange = None
        self._reject(status, f"{_PHRASES.get(status, 'Error')}: {reason}")

    def _reject(self, status: int, text: str, linger: bool = True) -> None:
        """Answer a request the app never sees, then close (RFC 9112 §6.1: after a framing
        error the connection cannot be reused)."""
        self.exchange = None
        self._release_body()
        if self.transport is None or self._closing:
            return
        error_log.info("%s %s", status, text)
        self.write(simple_response(status, text))
        self._close(linger=linger)

    def _close(self, linger: bool = False) -> None:
        if self._closing or self.transport is None:
            return
        self._closing = True
        self._cancel_read_timer()
        self.flush()
        transport = self.transport
        if linger and transport.can_write_eof():
            # Half-close, keep discarding input for a while, then close: a client still
            # sending gets our response instead of a reset.
            transport.write_eof()
            if self._reading_paused:
                self._reading_paused = False
                transport.resume_reading()
            self._linger = self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    def abort(self) -> None:
        self._held_out = None
        if self.transport is not None:
            self.transport.abort()

    def shutdown(self) -> None:
        """Server shutdown: close now if idle, otherwise after the current response."""
        self._close_after_response = True
        if self.exchange is None:
            if self._closing and self.transport is not None:
                # Lingering after an error response (see ``_close``): nothing left to send.
                self.transport.close()
            else:
                self._close()

    # -- timers and flow control -----------------------------------------------------------------

    # One timer handle serves every read deadline. A keep-alive connection moves its deadline
    # three times per request (header, idle, header again); re-arming a TimerHandle each time is
    # a heap push and a cancellation per move, so the handle stays put and, when it fires early,
    # re-arms itself for the deadline now in force.

    def _arm_read_timer(self, timeout: float | None, kind: str) -> None:
        self._read_timer_kind = kind
        if timeout is None:
            self._read_deadline = None
            return
        deadline = self.loop.time() + timeout
        self._read_deadline = deadline
        timer = self._read_timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._read_timer = self.loop.call_at(deadline, self._read_timer_fired)

    def _cancel_read_timer(self) -> None:
        self._read_deadline = None
        self._read_timer_kind = ""

    def _drop_read_timer(self) -> None:
        self._cancel_read_timer()
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timer_fired(self) -> None:
        self._read_timer = None
        deadline = self._read_deadline
        if deadline is None:
            return
        if self.loop.time() < deadline:
            self._read_timer = self.loop.call_at(deadline, self._read_timer_fired)
            return
        self._read_deadline = None
        self._read_timed_out()

    def _read_timed_out(self) -> None:
        kind = self._read_timer_kind
        self._read_timer_kind = ""
        if kind == "keep-alive":
            self._close()
        elif kind == "header":
            if self.parser.buffered():
                self._reject(408, "Request Timeout: the request head did not arrive in time")
            else:
                self._close()
        elif kind == "body":
            if self._waiting_body:
                self._reject(408, "Request Timeout: the request body did not arrive in time")
            elif self._draining:
                self._close()
            elif self.body is not None and self._reading_paused:
                # Back-pressure: the app is not reading, which is not the client's fault.
                self._arm_read_timer(self.config.timeout_body, "body")
            elif self.body is not None:
                self.body.fail(BodyIncomplete("the request body did not arrive in time"))
                self._close_after_response = True

    def _write_timed_out(self) -> None:
        self._write_timer = None
        if self.write_paused and self.transport is not None:
            error_log.info("closing a connection whose client stopped reading")
            self.transport.abort()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None and not self._closing:
            self._reading_paused = False
            self.transport.resume_reading()

    def _send_100_continue(self) -> None:
        exchange = self.exchange
        if (
            exchange is not None
            and not exchange.headers_sent
            and self.parser.they_are_waiting_for_100_continue
            and not self._continued
        ):
            self._continued = True
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def wake_parked(self) -> None:
        if self.exchange is not None:
            self.exchange.wake_for_shutdown()

    def _log_access(self, exchange: Exchange) -> None:
        if access_log.isEnabledFor(logging.INFO):
            environ = exchange.environ
            access_log.info(
                '%s:%s - "%s %s %s" %d %d',
                environ["REMOTE_ADDR"],
                environ["REMOTE_PORT"],
                environ["REQUEST_METHOD"],
                environ["RAW_URI"],
                environ["SERVER_PROTOCOL"],
                exchange.status_code,
                exchange.sent,
            )
