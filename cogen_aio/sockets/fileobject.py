"""The file object ``Socket.makefile()`` returns (:class:`SocketFile`) and the operations its
methods build."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Iterable

from ..ops import TimedOperation

# A module reference: writing.py may still be loading when this module is (see operations.py).
from . import writing as _writing
from .operations import _cut, _Receive
from .settings import _as_buffer
from .waiting import _MORE, _chain, _resolved

if TYPE_CHECKING:
    from .sock import Socket

DEFAULT_BUFSIZE = 8192


class SocketFile:
    """What ``Socket.makefile()`` returns: a buffered file object over the socket whose
    methods return operations (the original's were coroutines, yielded the same way).

    Reads share the socket's read buffer. ``read(n)`` gives exactly ``n`` bytes and
    ``readline()`` a whole line; if the peer closes first they raise ConnectionClosed and the
    partial data is dropped (cogen-api.md §11; it is on the exception's ``partial``).
    ``read()`` without a size therefore always ends in ConnectionClosed, and so does
    ``readlines()`` without a size hint. Writes are buffered until ``bufsize`` bytes are pending
    (so with ``bufsize`` 0 or 1 every write is sent, as in the original, whose Python 2 file
    rules meant 1 was never line buffering); ``write``, ``writelines``, ``flush`` and
    ``close`` give ``()``. Extra keywords (``timeout``, ``prio``) go to the operation; the
    default timeout is the socket's. ``close()`` flushes and detaches; it closes the socket only
    if the file was made with ``close=True``.
    """

    default_bufsize = DEFAULT_BUFSIZE
    name = "<socket>"

    __slots__ = (
        "_sock", "mode", "bufsize", "softspace", "_rbufsize", "_wbufsize", "_wbuf", "_close"
    )

    def __init__(
        self, sock: Socket, mode: str = "rb", bufsize: int = -1, close: bool = False
    ) -> None:
        self._sock: Socket | None = sock
        self.mode = mode
        if bufsize < 0:
            bufsize = self.default_bufsize
        self.bufsize = bufsize
        self.softspace = False
        # The Python 2 stdlib rules the original copied: unbuffered reads take a byte at a
        # time, line buffering reads in default-sized blocks.
        if bufsize == 0:
            self._rbufsize = 1
        elif bufsize == 1:
            self._rbufsize = self.default_bufsize
        else:
            self._rbufsize = bufsize
        self._wbufsize = bufsize
        self._wbuf: list[bytes | bytearray | memoryview] = []
        self._close = close

    @property
    def closed(self) -> bool:
        return self._sock is None

    def fileno(self) -> int:
        return self._socket().fileno()

    def _socket(self) -> Socket:
        if self._sock is None:
            raise ValueError("I/O operation on a closed socket file")
        return self._sock

    def _timed(self, kws: dict[str, Any]) -> dict[str, Any]:
        kws.setdefault("timeout", self._socket()._timeout)
        return kws

    def read(self, size: int = -1, **kws: Any) -> _FileRead:
        return _FileRead(self, size, **self._timed(kws))

    def readline(self, size: int = -1, **kws: Any) -> _FileReadLine:
        return _FileReadLine(self, size, **self._timed(kws))

    def readlines(self, sizehint: int = 0, **kws: Any) -> _FileReadLines:
        return _FileReadLines(self, sizehint, **self._timed(kws))

    def write(self, data: Any, **kws: Any) -> _FileWrite:
        return _FileWrite(self, [data], **self._timed(kws))

    def writelines(self, lines: Iterable[Any], **kws: Any) -> _FileWrite:
        return _FileWrite(self, list(lines), True, **self._timed(kws))

    def flush(self, **kws: Any) -> _FileFlush:
        return _FileFlush(self, **self._timed(kws))

    def close(self, **kws: Any) -> _FileClose:
        kws.setdefault("timeout", self._sock._timeout if self._sock is not None else None)
        return _FileClose(self, **kws)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        """Send the write buffer; the future gives ``()``."""
        wbuf = self._wbuf
        if not wbuf:
            return _resolved(loop, ())
        data = b"".join(wbuf)
        wbuf.clear()  # gone even if the send fails, as in the original
        outer = loop.create_future()
        _chain(_writing.SendAll(self._socket(), data, timeout=-1)._start(loop), outer, lambda _: ())
        return outer

    def __repr__(self) -> str:
        return f"<{type(self).__name__} over {self._sock!r} mode={self.mode!r}>"


class _FileRead(_Receive):
    __slots__ = ("file", "size")

    def __init__(self, file: SocketFile, size: int = -1, **kws: Any) -> None:
        super().__init__(file._socket(), **kws)
        self.file = file
        self.size = size

    def _take(self, buf: bytearray) -> Any:
        size = self.size
        if size < 0 or len(buf) < size:
            return _MORE
        return _cut(buf, size)

    def _want(self, buffered: int) -> int:
        rbufsize = self.file._rbufsize
        if self.size < 0:
            return rbufsize if rbufsize > 1 else DEFAULT_BUFSIZE
        return max(rbufsize, self.size - buffered)


class _FileReadLine(_Receive):
    __slots__ = ("file", "size", "_seen")

    def __init__(self, file: SocketFile, size: int = -1, **kws: Any) -> None:
        super().__init__(file._socket(), **kws)
        self.file = file
        self.size = size
        self._seen = 0

    def _reset(self) -> None:
        self._seen = 0

    def _take(self, buf: bytearray) -> Any:
        size = self.size
        end = len(buf) if size < 0 else min(size, len(buf))
        nl = buf.find(b"\n", self._seen, end)
        if nl >= 0:
            cut = nl + 1
        elif 0 <= size <= len(buf):
            cut = size  # no newline within size bytes: that much, as the stdlib does
        else:
            self._seen = end
            return _MORE
        self._seen = 0
        return _cut(buf, cut)

    def _want(self, buffered: int) -> int:
        return self.file._rbufsize


class _FileReadLines(_Receive):
    __slots__ = ("file", "sizehint", "_lines", "_total", "_seen")

    def __init__(self, file: SocketFile, sizehint: int = 0, **kws: Any) -> None:
        super().__init__(file._socket(), **kws)
        self.file = file
        self.sizehint = sizehint
        self._reset()

    def _reset(self) -> None:
        self._lines: list[bytes] = []
        self._total = 0
        self._seen = 0

    def _take(self, buf: bytearray) -> Any:
        while True:
            nl = buf.find(b"\n", self._seen)
            if nl < 0:
                self._seen = len(buf)
                return _MORE
            self._seen = 0
            line = _cut(buf, nl + 1)
            self._lines.append(line)
            self._total += len(line)
            if self.sizehint and self._total >= self.sizehint:
                lines = self._lines
                self._reset()
                return lines

    def _want(self, buffered: int) -> int:
        return self.file._rbufsize

    def _lost(self, buf: bytearray) -> bytes:
        partial = b"".join(self._lines) + bytes(buf)
        buf.clear()
        self._reset()
        return partial


class _FileWrite(TimedOperation):
    """``fh.write(data)`` / ``fh.writelines(lines)``: buffer, flush when the buffer is full."""

    __slots__ = ("file", "data", "lines")

    def __init__(self, file: SocketFile, data: list[Any], lines: bool = False, **kws: Any) -> None:
        super().__init__(**kws)
        self.file = file
        # Encoded now, so a bad argument fails where it is passed.
        self.data = [_as_buffer(chunk) for chunk in data]
        self.lines = lines

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        file = self.file
        file._socket()
        chunks = [chunk for chunk in self.data if len(chunk)]
        file._wbuf.extend(chunks)
        wbufsize = file._wbufsize
        if not self.lines:
            flush = bool(chunks) and (
                wbufsize == 0
                or (wbufsize == 1 and b"\n" in chunks[0])
                or sum(map(len, file._wbuf)) >= wbufsize
            )
        else:  # writelines
            flush = wbufsize <= 1 or sum(map(len, file._wbuf)) >= wbufsize
        return file._flush(loop) if flush else _resolved(loop, ())


class _FileOperation(TimedOperation):
    """An operation on the file object itself rather than on its socket."""

    __slots__ = ("file",)

    def __init__(self, file: SocketFile, **kws: Any) -> None:
        super().__init__(**kws)
        self.file = file


class _FileFlush(_FileOperation):
    __slots__ = ()

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        self.file._socket()
        return self.file._flush(loop)


class _FileClose(_FileOperation):
    __slots__ = ()

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        file = self.file
        if file._sock is None:
            return _resolved(loop, ())
        outer = loop.create_future()
        try:
            flushed = file._flush(loop)
        except BaseException:
            self._detach()
            raise
        _chain(flushed, outer)
        # Detached (and the socket closed if asked) however the flush ends.
        outer.add_done_callback(lambda _: self._detach())
        return outer

    def _detach(self) -> None:
        file = self.file
        sock, file._sock = file._sock, None
        if file._close and sock is not None:
            sock.close()

