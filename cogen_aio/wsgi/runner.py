"""Running one WSGI request: call the app, step its iterator on the loop, frame what it yields.

This is the parking contract (DESIGN.md): a non-empty chunk is body; an empty chunk (``b""``,
``""`` or ``None``) is a park point, where headers already given to ``start_response`` are sent and
the operation the app parked in ``environ['cogen.wsgi']`` is started. The app resumes with the
outcome in the proxy (``result``, ``exception``) once the operation completes, times out, or the
server shuts down. Nothing here creates a task for an app that does not park: a hello-world
response is produced synchronously inside ``data_received`` and leaves in one ``transport.write``
at the end of the loop's turn (:mod:`cogen_aio.coalescing`).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import traceback
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from .. import context
from ..ops import (
    OperationTimeout,
    ShuttingDown,
    deadline_of,
    outcome_now,
    parkable,
    start_operation,
)
from ..response import response_head, simple_response
from .filewrapper import FileWrapper

if TYPE_CHECKING:
    from ..parking import CogenProxy
    from ..protocol import HttpProtocol

error_log = logging.getLogger("cogen_aio.error")

#: Empty yields in a row with nothing parked before the app is reported as a busy loop.
BUSY_YIELDS = 10000
_NO_BODY_STATUS = frozenset({204, 304})
_NO_SENDFILE = asyncio.AbstractEventLoop.sendfile


def discard(op: Any) -> None:
    """Drop an operation that was parked but will never run. A coroutine object is closed, or
    Python would warn that it was never awaited."""
    if op is not None and inspect.iscoroutine(op):
        op.close()


class Exchange:
    """One request and its response, from the app call to the last byte."""

    __slots__ = (
        "protocol",
        "environ",
        "proxy",
        "body",
        "head_only",
        "_head_length",
        "http10",
        "keep_alive",
        "status",
        "status_code",
        "_status_bytes",
        "_header_block",
        "_has_date",
        "_has_server",
        "declared_length",
        "no_body",
        "headers_sent",
        "chunked",
        "sent",
        "must_close",
        "done",
        "_result",
        "_iterator",
        "_closed_app",
        "_held",
        "_parked",
        "_parked_op",
        "_timer",
        "_idle_yields",
        "_stepping",
        "_gone",
        "_task",
        "_warned",
        # Weakly referenced as the owner of ``local`` state and ``key=None`` subscriptions.
        "__weakref__",
    )

    def __init__(
        self,
        protocol: HttpProtocol,
        environ: dict[str, Any],
        proxy: CogenProxy,
        body: Any,
        head_only: bool,
        http10: bool,
        keep_alive: bool,
    ) -> None:
        self.protocol = protocol
        self.environ = environ
        self.proxy = proxy
        self.body = body
        self.head_only = head_only
        self._head_length = 0
        self.http10 = http10
        self.keep_alive = keep_alive
        self.status: str | None = None
        self.status_code = 0
        self.declared_length: int | None = None
        self.no_body = head_only
        self.headers_sent = False
        self.chunked = False
        self.sent = 0
        self.must_close = False
        self.done = False
        self._result: Iterable[bytes] | None = None
        self._iterator: Any = None
        self._closed_app = False
        self._held: bytes | None = None
        self._parked: asyncio.Future[Any] | None = None
        self._parked_op: Any = None
        self._timer: asyncio.TimerHandle | None = None
        self._idle_yields = 0
        self._stepping = False
        self._gone = False
        self._task: asyncio.Task[Any] | None = None
        self._warned: set[str] | None = None

    # -- the app's side: start_response and write (PEP 3333) ----------------------------------

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None:
            try:
                if self.headers_sent:
                    # PEP 3333: too late to change the status; re-raise so the app aborts.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
            # Headers not sent yet: the new status and headers replace the old ones.
            self._held = None
            self.declared_length = None
        elif self.status is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        head = response_head(status, headers)
        for name in head.dropped:
            self._warn_once(f"dropped hop-by-hop response header {name!r}")
        self.status = status
        self.must_close = head.close
        self._status_bytes = head.status_bytes
        self.status_code = code = head.status_code
        self._header_block = head.header_block
        self._has_date = head.has_date
        self._has_server = head.has_server
        self.declared_length = head.declared_length
        # RFC 9110 §6.4.1: 1xx, 204 and 304 responses, and any response to HEAD, have no content.
        self.no_body = self.head_only or code < 200 or code in _NO_BODY_STATUS
        return self.write

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise AssertionError("write() called before start_response()")
        if self.done:
            raise RuntimeError("write() called after the response was finished")
        if data.__class__ is not bytes:
            data = self._coerce(data)
        if data:
            self._body(data)

    # -- stepping ----------------------------------------------------------------------------

    def run(self, app: Callable[..., Iterable[bytes]]) -> None:
        # The request is the owner of ``local`` state and of ``key=None`` subscriptions, from the
        # app call through the first step (one context switch for a response answered at once).
        token = context.enter(self)
        try:
            try:
                result = app(self.environ, self.start_response)
                self._result = result
                if type(result) is FileWrapper:
                    self._iterator = self._file_response(result)
                    if self._iterator is None:
                        return  # sendfile is on its way
                else:
                    self._iterator = iter(result)
            except Exception as exc:
                self._app_error(exc)
                return
            self._advance()
        finally:
            context.leave(token)
        if self._gone and not self.done:
            self.client_gone()

    def step(self) -> None:
        if self.done:
            return
        token = context.enter(self)
        try:
            self._advance()
        finally:
            context.leave(token)
        if self._gone and not self.done:
            self.client_gone()  # the client left during the step (see ``client_gone``)

    def _advance(self) -> None:
        """Iterate the app until it parks, ends or fills the transport (the owner is set)."""
        protocol = self.protocol
        iterator = self._iterator
        self._stepping = True
        try:
            while True:
                if protocol.write_paused:
                    protocol.when_writable(self.step)
                    return
                chunk = next(iterator)
                if chunk.__class__ is bytes:
                    if chunk:
                        self._body(chunk)
                        continue
                elif chunk:
                    if not parkable(chunk):
                        self._body(self._coerce(chunk))  # str, bytearray; TypeError otherwise
                        continue
                    # An operation or awaitable yielded directly is parked like a wrapped one.
                    self.proxy.operation = chunk
                # A park point.
                if self.status is not None and not self.headers_sent:
                    # A comet "I'm waiting" response must reach the client before the wait.
                    self._commit(final=False)
                op = self.proxy.take()
                if op is None:
                    self._idle_yield()
                else:
                    self._park(op)
                return
        except StopIteration:
            self._finish()
        except Exception as exc:
            self._app_error(exc)
        finally:
            self._stepping = False

    def _idle_yield(self) -> None:
        # Nothing parked: give everybody else a turn, then continue (the original ran the app
        # again at once and starved the server).
        self._idle_yields += 1
        if self._idle_yields == BUSY_YIELDS:
            error_log.warning(
                "%s %s yields empty chunks without parking an operation (busy loop)",
                self.environ["REQUEST_METHOD"],
                self.environ["RAW_URI"],
            )
        self.protocol.loop.call_soon(self.step)

    def _park(self, op: Any) -> None:
        self._idle_yields = 0
        proxy = self.proxy
        if proxy.overwritten:
            self._warn_once(
                "an operation was parked and replaced before the server took it: a middleware "
                "is probably consuming the app's empty chunks instead of passing them on"
            )
            proxy.overwritten = 0
        loop = self.protocol.loop
        try:
            value = outcome_now(op, loop)
            if value is not NotImplemented:
                # The app resumes on the next turn, as through a resolved future's callback.
                self._set_outcome(result=value)
                loop.call_soon(self.step)
                return
            future = start_operation(op, loop)
        except Exception as exc:
            self._set_outcome(exc=exc)
            loop.call_soon(self.step)
            return
        self._parked = future
        self._parked_op = op
        deadline = deadline_of(op, loop, self.protocol.config.op_timeout)
        if deadline is not None:
            self._timer = loop.call_at(deadline, self._timed_out)
        future.add_done_callback(self._resume)

    def _resume(self, future: asyncio.Future[Any]) -> None:
        if future is not self._parked:
            return  # already resolved by a timeout, a shutdown or a disconnect
        self._unpark()
        if future.cancelled():
            self._set_outcome(exc=asyncio.CancelledError())
        else:
            exc = future.exception()
            if exc is None:
                self._set_outcome(result=future.result())
            else:
                self._set_outcome(exc=exc)
        self.step()

    def _timed_out(self) -> None:
        self._timer = None
        self._interrupt(OperationTimeout(self._parked_op))

    def _interrupt(self, exc: BaseException) -> None:
        """Resolve the parked operation with ``exc`` (its timeout, or shutting down)."""
        future = self._parked
        if future is None or self.done:
            return
        self._unpark()
        future.cancel()
        self._set_outcome(exc=exc)
        self.step()

    def wake_for_shutdown(self) -> None:
        if self._parked is not None:
            self._interrupt(ShuttingDown("the server is shutting down"))

    @property
    def parked_operation(self) -> Any:
        return self._parked_op

    def _unpark(self) -> None:
        self._parked = None
        self._parked_op = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _set_outcome(self, result: Any = None, exc: BaseException | None = None) -> None:
        # Outcomes never raise into the app: a failure's instance goes to ``result`` and the
        # (type, value, traceback) triple to ``exception``.
        proxy = self.proxy
        if exc is None:
            proxy.result = result
            proxy.exception = None
        else:
            proxy.result = exc
            proxy.exception = (type(exc), exc, exc.__traceback__)

    def client_gone(self) -> None:
        """The connection is gone: stop waiting, close the app's iterable at once."""
        if self.done:
            return
        if self._stepping:
            self._gone = True  # finish the current step first; ``step`` calls back
            return
        self.done = True
        future = self._parked
        self._unpark()
        if future is not None:
            future.cancel()
        task = self._task
        if task is not None:
            # Close the file once sendfile has let go of it, not under its feet.
            self._task = None
            task.cancel()
            task.add_done_callback(lambda _: self._close_app())
        else:
            self._close_app()

    # -- output --------------------------------------------------------------------------------

    def _coerce(self, data: Any) -> bytes:
        if isinstance(data, str):
            self._warn_once("the app yields str chunks; they are encoded as UTF-8")
            return data.encode("utf-8")
        if isinstance(data, (bytearray, memoryview)):
            return bytes(data)
        raise TypeError(f"response chunks must be bytes, not {type(data).__name__}")

    def _body(self, data: bytes) -> None:
        if self.status is None:
            raise AssertionError("the app produced body data before calling start_response()")
        self._idle_yields = 0
        if self.no_body:
            if self.head_only:
                # Counted so a HEAD answered in one go announces the length a GET would get.
                self._head_length += len(data)
            else:
                self._warn_once(f"body data for a {self.status_code} response was dropped")
            return
        if not self.headers_sent:
            if self._held is None:
                # Hold the first chunk: if it is also the last, the response goes out with a
                # Content-Length, in one write.
                self._held = data
                return
            self._commit(final=False)
        self._emit(data)

    def _emit(self, data: bytes) -> None:
        size = len(data)
        declared = self.declared_length
        if declared is not None and self.sent + size > declared:
            size = declared - self.sent
            data = data[:size]
            self.must_close = True
            self._warn_once("the app sent more than its Content-Length; the excess was dropped")
            if not size:
                return
        self.sent += size
        write = self.protocol.write  # held until the loop's turn ends (cogen_aio.coalescing)
        if self.chunked:
            write(b"%x\r\n" % size)
            write(data)
            write(b"\r\n")
        else:
            write(data)

    def _commit(self, final: bool) -> None:
        """Put the response head in the output, deciding framing and persistence."""
        held = self._held
        self._held = None
        protocol = self.protocol
        declared = self.declared_length
        if held is not None and declared is not None and len(held) > declared:
            self.must_close = True  # ``_emit`` truncates it; say so before the head goes out
        keep_alive = self.keep_alive and not self.must_close and not protocol.closing_after_response
        framing = b""
        code = self.status_code
        if code < 200 or code == 204:
            pass  # RFC 9110 §8.6: no Content-Length in a 1xx or 204 response
        elif declared is not None:
            framing = b"content-length: %d\r\n" % declared
        elif self.no_body:
            if final and self.head_only and code != 304:
                # RFC 9110 §9.3.2: HEAD gets the header fields GET would, Content-Length included.
                framing = b"content-length: %d\r\n" % self._head_length
        elif final:
            framing = b"content-length: %d\r\n" % (len(held) if held else 0)
        elif not self.http10:
            self.chunked = True
            framing = b"transfer-encoding: chunked\r\n"
        else:
            # RFC 9112 §6.3: an HTTP/1.0 response without a length is delimited by closing.
            keep_alive = False
        self.keep_alive = keep_alive
        if keep_alive:
            connection = b"connection: keep-alive\r\n" if self.http10 else b""
        else:
            connection = b"connection: close\r\n"
        config = protocol.config
        protocol.write(
            b"".join(
                (
                    b"HTTP/1.1 ",
                    self._status_bytes,
                    b"\r\n",
                    self._header_block,
                    b"" if self._has_date or not config.date_header else protocol.date.line(),
                    b"" if self._has_server or not config.server_header else protocol.server_line,
                    framing,
                    connection,
                    b"\r\n",
                )
            )
        )
        self.headers_sent = True
        if held:
            self._emit(held)

    # -- endings -------------------------------------------------------------------------------

    def _finish(self) -> None:
        if self.proxy.operation is not None:
            self._warn_once(
                "the app ended with an operation parked that was never awaited (a middleware "
                "that flattens the response iterable?)"
            )
        self._close_app()
        if self.status is None:
            error_log.error(
                "%s %s: the app returned without calling start_response()",
                self.environ["REQUEST_METHOD"],
                self.environ["RAW_URI"],
            )
            self._respond_500("the application did not start a response")
            return
        if not self.headers_sent:
            self._commit(final=True)
        elif self.chunked:
            self.protocol.write(b"0\r\n\r\n")
        if (
            self.declared_length is not None
            and not self.no_body
            and self.sent < self.declared_length
        ):
            error_log.error(
                "%s %s: the app sent %d of the %d bytes its Content-Length announced",
                self.environ["REQUEST_METHOD"],
                self.environ["RAW_URI"],
                self.sent,
                self.declared_length,
            )
            self.done = True
            self.protocol.response_aborted(self)
            return
        self.done = True
        self.protocol.response_done(self, self.keep_alive and not self.must_close)

    def _app_error(self, exc: BaseException) -> None:
        self._close_app()
        environ = self.environ
        error_log.error(
            "Exception in the app serving %s %s",
            environ["REQUEST_METHOD"],
            environ["RAW_URI"],
            exc_info=exc,
        )
        if self.headers_sent:
            # Bytes are on the wire: closing now lets the client see a truncated response.
            self.done = True
            self.protocol.response_aborted(self)
            return
        if self.protocol.config.debug:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        else:
            text = "Internal Server Error"
        self._respond_500(text)

    def _respond_500(self, text: str) -> None:
        self._held = None
        self.status_code = 500
        self.done = True
        response = simple_response(500, text)
        self.sent = len(response)
        self.protocol.write(response)
        self.protocol.response_done(self, False)

    def _close_app(self) -> None:
        # PEP 3333: close() is called exactly once, whatever happened.
        if self._closed_app:
            return
        self._closed_app = True
        close = getattr(self._result, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                error_log.exception("Exception in the close() of the app's response")
        discard(self.proxy.take())

    def _warn_once(self, message: str) -> None:
        if self._warned is None:
            self._warned = set()
        if message not in self._warned:
            self._warned.add(message)
            error_log.warning(
                "%s %s: %s", self.environ["REQUEST_METHOD"], self.environ["RAW_URI"], message
            )

    # -- wsgi.file_wrapper ---------------------------------------------------------------------

    def _file_response(self, wrapper: FileWrapper) -> Iterator[bytes] | None:
        """Start sending a ``wsgi.file_wrapper`` response with ``loop.sendfile`` (None), or
        return the iterator that sends it. A real file's size gives the Content-Length."""
        if self.status is None or self._held is not None:
            # Without start_response the iteration reports the error; data given to write()
            # first is simpler to send by iterating than to account around sendfile.
            return iter(wrapper)
        span = wrapper.sendfile_span()
        if span is None:
            return iter(wrapper)
        offset, length = span
        declared = self.declared_length
        if declared is None:
            self.declared_length = length
        elif declared < length:
            length = declared
        if self.no_body or not length:
            return iter(())
        protocol = self.protocol
        if type(protocol.loop).sendfile is _NO_SENDFILE or not protocol.can_sendfile():
            # A loop that only inherits the abstract sendfile (uvloop) would just raise.
            return wrapper.blocks(length)
        self._commit(final=False)
        self._task = protocol.loop.create_task(self._sendfile(wrapper, offset, length))
        return None

    async def _sendfile(self, wrapper: FileWrapper, offset: int, length: int) -> None:
        file = wrapper.filelike
        try:
            sent = await self.protocol.sendfile(file, offset, length)
        except asyncio.CancelledError:
            raise
        except (NotImplementedError, RuntimeError) as exc:
            # A transport that refuses sendfile (no socket, TLS) fails before sending
            # anything: send the file by reading it instead.
            self._task = None
            if self.done:
                return
            try:
                unsent = file.tell() == offset
            except (OSError, ValueError):
                unsent = False
            if not unsent:
                self._app_error(exc)
                return
            self._iterator = wrapper.blocks(length)
            self.step()
            return
        except OSError as exc:
            # Mostly the client going away mid-file (EPIPE, ECONNRESET): not the app's fault.
            self._task = None
            if not self.done:
                error_log.info("sendfile stopped after %s: %s", self.environ["RAW_URI"], exc)
                self.done = True
                self._close_app()
                self.protocol.response_aborted(self)
            return
        except Exception as exc:
            self._task = None
            self._app_error(exc)
            return
        self._task = None
        if self.done:
            return
        self.sent = sent
        self._finish()
