"""The request body: received from the protocol, read by the app.

Plain WSGI apps read ``wsgi.input`` synchronously on the loop thread, which cannot wait for bytes.
So by default the server receives the whole body before calling the app (the waitress model): small
bodies stay in memory, larger ones are spooled to a temporary file, and ``limit_request_body`` caps
them (413). Apps that stream their input (``stream_input``) are called at once and read through
``environ['cogen.input']``, whose reads are parked operations that wait for data; reading pauses
the transport above a high-water mark so a body nobody consumes does not pile up in memory.
"""

from __future__ import annotations

import asyncio
import io
import tempfile
from typing import IO, Any, Callable, Iterator

from ..ops import Operation

#: Stop reading the socket when this much body is buffered and unread (uvicorn uses 64 KiB too).
HIGH_WATER = 65536


class BodyTooLarge(Exception):
    """The request body exceeds ``limit_request_body``."""


class BodyIncomplete(Exception):
    """The client went away or timed out before the whole body arrived."""


class RequestBody:
    """Bytes of one request body as they arrive, and the reads waiting for them."""

    __slots__ = (
        "limit",
        "spool_size",
        "buffered",
        "received",
        "complete",
        "error",
        "_buffer",
        "_file",
        "_pending",
        "_on_demand",
        "_pause",
        "_resume",
        "_paused",
    )

    def __init__(
        self,
        limit: int,
        spool_size: int | None,
        on_demand: Callable[[], None],
        pause: Callable[[], None],
        resume: Callable[[], None],
    ) -> None:
        self.limit = limit
        # None when streaming; otherwise the body is received whole before the app runs.
        self.spool_size = spool_size
        self.buffered = spool_size is not None
        self.received = 0
        self.complete = False
        self.error: BaseException | None = None
        # Streaming: bytes received and not yet read. Buffered: everything, then ``_file``.
        self._buffer = bytearray()
        self._file: IO[bytes] | None = None
        self._pending: _Read | None = None
        # Called the first time somebody needs bytes that have not arrived (sends 100 Continue).
        self._on_demand: Callable[[], None] | None = on_demand
        self._pause = pause
        self._resume = resume
        self._paused = False

    # -- fed by the protocol ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.limit:
            self.fail(BodyTooLarge(f"request body larger than {self.limit} bytes"))
            return
        if self._file is not None:
            self._file.write(data)
            return
        self._buffer += data
        if self.buffered:
            if len(self._buffer) > self.spool_size:  # type: ignore[operator]
                self._file = tempfile.TemporaryFile()
                self._file.write(self._buffer)
                self._buffer = bytearray()
            return
        pending = self._pending
        if pending is not None and not pending.try_complete(self):
            return  # a read waits for more than is here (read(), a long line): keep reading
        if len(self._buffer) > HIGH_WATER and not self._paused:
            self._paused = True
            self._pause()

    def finish(self) -> None:
        self.complete = True
        if self._file is not None:
            self._file.seek(0)
        if self._pending is not None:
            self._pending.try_complete(self)

    def fail(self, error: BaseException) -> None:
        if self.error is None and not self.complete:
            self.error = error
            self.complete = True
            if self._pending is not None:
                self._pending.try_complete(self)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._pending is not None and not self._pending.future.done():
            self._pending.future.cancel()
        self._pending = None

    # -- synchronous reads (wsgi.input) -------------------------------------------------------

    def available(self) -> int:
        return len(self._buffer)

    def take(self, size: int) -> bytes:
        """Remove up to ``size`` (all if negative) bytes already received."""
        if self._file is not None:
            return self._file.read(size if size >= 0 else -1)
        buffer = self._buffer
        if size < 0 or size >= len(buffer):
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[:size])
            del buffer[:size]
        if self._paused and len(buffer) <= HIGH_WATER // 2:
            self._paused = False
            self._resume()
        return data

    def unread(self, data: bytes) -> None:
        """Put back bytes just taken."""
        if self._file is not None:
            self._file.seek(-len(data), io.SEEK_CUR)
        else:
            self._buffer[:0] = data

    def take_line(self, size: int) -> bytes | None:
        """A line (with its newline) if a whole one, or ``size`` bytes, is available; else None."""
        if self._file is not None:
            return self._file.readline(size if size >= 0 else -1)
        buffer = self._buffer
        end = buffer.find(b"\n", 0, size if size >= 0 else len(buffer))
        if end >= 0:
            return self.take(end + 1)
        if 0 <= size <= len(buffer):
            return self.take(size)
        if self.complete:
            return self.take(-1)
        return None

    def demand(self) -> None:
        """Somebody waits for bytes: answer ``Expect: 100-continue`` and resume reading."""
        if self._on_demand is not None:
            on_demand, self._on_demand = self._on_demand, None
            on_demand()
        if self._paused:
            self._paused = False
            self._resume()

    # -- asynchronous reads (cogen.input) -----------------------------------------------------

    def start_read(self, read: _Read) -> None:
        if self._pending is not None and not self._pending.future.done():
            read.future.set_exception(RuntimeError("another read of the request body is pending"))
            return
        self._pending = read
        if not read.try_complete(self):
            self.demand()


def _nothing() -> None:
    pass


class EmptyBody(RequestBody):
    """The body of every request that has none (most GETs, every long-poll): complete from the
    start and never fed, so one instance serves them all instead of a buffer and three callbacks
    per request. Reads complete at once with ``b""`` and leave nothing behind."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(0, None, _nothing, _nothing, _nothing)
        self.complete = True

    def feed(self, data: bytes) -> None:  # pragma: no cover - a request without body
        raise AssertionError("EmptyBody is never fed")

    def close(self) -> None:
        pass  # shared, and holds nothing

    def start_read(self, read: _Read) -> None:
        read.try_complete(self)


class _Read:
    """One parked read of the body; completes when enough data (or the end) has arrived."""

    __slots__ = ("future", "kind", "size", "lines", "proxy")

    def __init__(self, future: asyncio.Future[Any], kind: str, size: int, proxy: Any) -> None:
        self.future = future
        self.kind = kind
        self.size = size
        self.lines: list[bytes] = []
        self.proxy = proxy

    def try_complete(self, body: RequestBody) -> bool:
        future = self.future
        if future.done():
            return True
        if body.error is not None and not body.available():
            future.set_exception(body.error)
            return True
        kind = self.kind
        if kind == "read":
            size = self.size
            if size < 0:
                if not body.complete:
                    return False
                data = body.take(-1)
            elif body.available() >= size or body.complete or body._file is not None:
                data = body.take(size)
            else:
                return False
            return self._done(data)
        if kind in ("readline", "ReadLine"):
            line = body.take_line(self.size)
            if line is None:
                return False
            if kind == "ReadLine" and self.size >= 0 and line and not line.endswith(b"\n"):
                if len(line) >= self.size:
                    # 0.1.x ReadLine: no newline within the limit is an error, not a
                    # truncation; the bytes stay in the body for the app's next read.
                    body.unread(line)
                    future.set_exception(OverflowError(f"no newline within {self.size} bytes"))
                    return True
            return self._done(line)
        # readlines
        while True:
            line = body.take_line(-1)
            if line is None:
                return False
            if not line:
                return self._done(self.lines)
            self.lines.append(line)

    def _done(self, data: Any) -> bool:
        if self.proxy is not None:
            self.proxy.read_count += (
                len(data) if isinstance(data, bytes) else sum(map(len, data))
            )
        self.future.set_result(data)
        return True


class BodyRead(Operation):
    """A parked read of the request body (built by ``environ['cogen.input']``)."""

    __slots__ = ("body", "kind", "size", "proxy")

    def __init__(self, body: RequestBody, kind: str, size: int, proxy: Any = None) -> None:
        super().__init__()
        self.body = body
        self.kind = kind
        self.size = size
        self.proxy = proxy

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        read = _Read(loop.create_future(), self.kind, self.size, self.proxy)
        self.body.start_read(read)
        return read.future


class CogenInput:
    """What ``environ['cogen.input']`` wraps: each method returns a read operation, bounded by the
    body and giving ``b""`` at its end. ``Read``/``ReadLine`` are the 0.1.x spellings."""

    __slots__ = ("_body", "_proxy")

    def __init__(self, body: RequestBody, proxy: Any) -> None:
        self._body = body
        self._proxy = proxy

    def read(self, size: int = -1) -> BodyRead:
        return BodyRead(self._body, "read", -1 if size is None else size, self._proxy)

    def readline(self, size: int = -1) -> BodyRead:
        return BodyRead(self._body, "readline", -1 if size is None else size, self._proxy)

    def readlines(self, hint: int = -1) -> BodyRead:
        return BodyRead(self._body, "readlines", -1, self._proxy)

    def Read(self, size: int = -1) -> BodyRead:  # noqa: N802 - the 0.1.x name
        return self.read(size)

    def ReadLine(self, size: int = -1) -> BodyRead:  # noqa: N802 - the 0.1.x name
        return BodyRead(self._body, "ReadLine", -1 if size is None else size, self._proxy)


class InputStream:
    """``wsgi.input``: a read-only file over the request body (PEP 3333 "input stream").

    A plain object rather than an ``io`` class: one is built per request, and PEP 3333 asks for
    read/readline/readlines/__iter__ only. ``close()`` does nothing (the server owns the body).
    """

    __slots__ = ("_body",)

    def __init__(self, body: RequestBody) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    @property
    def closed(self) -> bool:
        return False

    def _require(self, size: int) -> None:
        body = self._body
        if body.error is not None and not body.available():
            raise OSError(f"request body unavailable: {body.error}")
        if not body.complete and (size < 0 or body.available() < size):
            raise BlockingIOError(
                "the request body has not arrived yet: with stream_input, read it through "
                "environ['cogen.input'] (or wrap the app in SynchronousInputMiddleware)"
            )

    def read(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        if size == 0:
            return b""
        self._require(size)
        return self._body.take(size)

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:
        size = -1 if size is None else size
        line = self._body.take_line(size)
        if line is None:
            self._require(-1)
            return self._body.take(-1)
        return line

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:  # type: ignore[override]
        while True:
            line = self.readline()
            if not line:
                return
            yield line


EMPTY_BODY = EmptyBody()
#: ``wsgi.input`` of every request without a body (it holds no state of its own).
EMPTY_INPUT = InputStream(EMPTY_BODY)
