"""Sockets whose blocking calls are operations (cogen-api.md §11).

A :class:`Socket` wraps a non-blocking stdlib socket. Its synchronous calls (``bind``, ``listen``,
``setsockopt``, ``close``...) pass straight through; the calls that would block (``recv``,
``send``, ``sendall``, ``accept``, ``connect``, ``sendfile`` and everything on the file object
from ``makefile()``) return an :class:`~cogen_aio.ops.Operation`. A cogen coroutine yields it, a
WSGI app parks it (``environ['cogen.call'](sock.sendall)(data)``), asyncio code awaits it::

    conn, addr = yield srv.accept()          # cogen coroutine
    line = yield conn.makefile().readline()
    yield conn.sendall(line)

    data = await conn.recv(4096)             # asyncio

How it runs: an operation first tries its system call at once (the original's
``proactor_multiplex_first``); only if that would block does it wait, through
``loop.add_reader``/``add_writer`` on the running loop. Operations on one socket queue per
direction in the order they started, so two coroutines writing to one connection never
interleave their bytes and two readers are served in turn. On loops without readiness
callbacks (the Windows proactor) the waiting part goes through ``loop.sock_recv``,
``sock_sendall``, ``sock_accept``, ``sock_connect`` and ``sock_sendfile`` instead.

Timeouts follow cogen-api.md §4: the ``Socket`` methods give every operation the socket's own
timeout (``settimeout``; new sockets start with :func:`getdefaulttimeout`) unless a ``timeout``
keyword is passed; operation classes built directly (``yield Recv(conn, 4096)``) have no timeout
of their own, so the server's default operation timeout applies. A timed-out or cancelled
operation leaves nothing registered on the socket.

Reads never return an empty string: end of file raises :class:`ConnectionClosed`. Data that a
read had collected when the peer closed is dropped, as in the original; it is kept on the
exception's ``partial`` attribute for code that wants it.
"""

from __future__ import annotations

import asyncio
import collections
import errno as _errno
import functools
import io
import logging
import os
import socket as _socket
import warnings
import weakref
from typing import Any, Callable, Iterable

from .ops import DEFAULT_PRIORITY, TimedOperation

__all__ = [
    "Socket",
    "SocketError",
    "ConnectionClosed",
    "getdefaulttimeout",
    "setdefaulttimeout",
    "SocketOperation",
    "Recv",
    "Send",
    "SendAll",
    "Accept",
    "Connect",
    "SendFile",
    "RecvAll",
    "SocketFile",
    "Read",
    "ReadAll",
    "ReadLine",
    "Write",
    "WriteAll",
]

error_log = logging.getLogger("cogen_aio.error")

_READ, _WRITE = 0, 1
#: ``_step`` made progress and wants to be called again before waiting.
_AGAIN: Any = object()
#: The read buffer does not satisfy the operation yet.
_MORE: Any = object()
#: The peer is gone: these become :class:`ConnectionClosed` (the original mapped EPIPE; a reset
#: or an aborted connection is the same thing to an app).
_CLOSED_ERRNOS = frozenset({_errno.EPIPE, _errno.ECONNRESET, _errno.ECONNABORTED})
_CONNECTING = frozenset(
    {_errno.EINPROGRESS, _errno.EWOULDBLOCK, _errno.EAGAIN, _errno.EALREADY, _errno.EINTR}
)
#: ``accept`` failures that only concern the connection that was being accepted.
_ACCEPT_RETRY = frozenset({_errno.ECONNABORTED, _errno.EPROTO})
#: ``os.sendfile`` refusing this pair of descriptors: fall back to read + send.
_NO_SENDFILE = frozenset(
    {_errno.EINVAL, _errno.ENOSYS, _errno.ENOTSOCK, _errno.EOPNOTSUPP, _errno.ENOTSUP}
)
DEFAULT_BUFSIZE = 8192


# -- exceptions --------------------------------------------------------------------------------


class SocketError(Exception):
    """A socket call failed for a reason other than "would block".

    ``args`` are the OS error's ``(errno, strerror)`` (Python 2 code read ``exc[0]``; here it is
    ``exc.args[0]`` or ``exc.errno``); the OS error itself is the ``__cause__``.
    """

    @property
    def errno(self) -> int | None:
        first = self.args[0] if self.args else None
        return first if isinstance(first, int) else None

    @property
    def strerror(self) -> str | None:
        return self.args[1] if len(self.args) > 1 else None


class ConnectionClosed(SocketError):
    """The peer closed the connection: end of file on any read, or EPIPE/ECONNRESET on a write.

    ``partial`` holds the bytes the failed call had already taken from the stream (the
    original dropped them; ``fh.read()`` without a size always ends here, so this is where its
    data is).
    """

    partial: bytes = b""


def _translate(exc: OSError) -> SocketError:
    cls = ConnectionClosed if exc.errno in _CLOSED_ERRNOS else SocketError
    error = cls(exc.errno, exc.strerror) if exc.errno is not None else cls(*exc.args)
    error.__cause__ = exc
    return error


def _eof(partial: bytes = b"") -> ConnectionClosed:
    exc = ConnectionClosed("Empty recv.")
    exc.partial = partial
    return exc


# -- module settings and legacy conveniences ---------------------------------------------------

_default_timeout: Any = None


def getdefaulttimeout() -> Any:
    """The timeout new :class:`Socket` objects start with (None: the server's default)."""
    return _default_timeout


def setdefaulttimeout(timeout: Any) -> None:
    """Set the timeout new :class:`Socket` objects start with: seconds, a ``timedelta``, ``-1``
    (never) or None. (The original's version forgot its ``global`` statement and did nothing.)"""
    global _default_timeout
    _default_timeout = timeout


_warned_str = False
_deprecated_seen: set[str] = set()


def _as_buffer(data: Any) -> bytes | bytearray | memoryview:
    """Bytes to send. ``str`` from legacy apps (Python 2 byte strings) is encoded as UTF-8, with
    one warning per process (cogen-api.md §16)."""
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, str):
        global _warned_str
        if not _warned_str:
            _warned_str = True
            error_log.warning(
                "str data given to a socket operation is encoded as UTF-8; send bytes"
            )
        return data.encode("utf-8")
    try:
        return memoryview(data).cast("B")
    except TypeError:
        raise TypeError(f"socket data must be bytes, not {type(data).__name__}") from None


def _deprecated(name: str, replacement: str) -> None:
    """One DeprecationWarning per 0.1.x name per process."""
    if name not in _deprecated_seen:
        _deprecated_seen.add(name)
        warnings.warn(
            f"{name} is the cogen 0.1 socket API; use {replacement}",
            DeprecationWarning,
            stacklevel=3,
        )


# -- waiting on the loop -----------------------------------------------------------------------

#: Loops without ``add_reader``/``add_writer`` (the Windows proactor): waits go through the
#: loop's ``sock_*`` coroutines instead.
_no_readiness: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _readiness(loop: asyncio.AbstractEventLoop) -> bool:
    if loop in _no_readiness:
        return False
    proactor = getattr(asyncio, "proactor_events", None)
    if proactor is not None and isinstance(loop, proactor.BaseProactorEventLoop):
        _no_readiness.add(loop)
        return False
    return True


class _Waiter:
    """One started socket operation: its future, and its fallback task if it has one."""

    __slots__ = ("op", "loop", "future", "task")

    def __init__(self, op: SocketOperation, loop: asyncio.AbstractEventLoop) -> None:
        self.op = op
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.task: asyncio.Task[Any] | None = None

    def attempt(self) -> bool:
        """Run the operation's system calls until it completes or would block.

        Returns True once the future is resolved, False if it has to wait.
        """
        future = self.future
        if future.done():
            return True
        op = self.op
        raw = op.sock._fd
        try:
            outcome = op._step(raw)
            while outcome is _AGAIN:
                outcome = op._step(raw)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            future.set_exception(_translate(exc))
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(outcome)
        return True

    def fall_back(self) -> None:
        """Wait through the loop's ``sock_*`` coroutines (loops without readiness callbacks)."""
        task = self.task = self.loop.create_task(self.op._fallback(self.loop))
        task.add_done_callback(self._relay)

    def _relay(self, task: asyncio.Task[Any]) -> None:
        future = self.future
        if future.done():
            return
        if task.cancelled():
            future.cancel()
            return
        exc = task.exception()
        if exc is None:
            future.set_result(task.result())
        else:
            future.set_exception(exc)


def _chain(
    inner: asyncio.Future[Any],
    outer: asyncio.Future[Any],
    finish: Callable[[Any], Any] | None = None,
) -> None:
    """Resolve ``outer`` with ``inner``'s outcome (mapped through ``finish``); cancelling
    ``outer`` cancels ``inner``, which undoes its registration."""

    def relay(done: asyncio.Future[Any]) -> None:
        if outer.done():
            return
        if done.cancelled():
            outer.cancel()
            return
        exc = done.exception()
        if exc is not None:
            outer.set_exception(exc)
            return
        try:
            result = done.result() if finish is None else finish(done.result())
        except Exception as error:
            outer.set_exception(error)
        else:
            outer.set_result(result)

    inner.add_done_callback(relay)
    outer.add_done_callback(lambda _: inner.cancel())


def _resolved(loop: asyncio.AbstractEventLoop, value: Any) -> asyncio.Future[Any]:
    future = loop.create_future()
    future.set_result(value)
    return future


# -- the socket ----------------------------------------------------------------------------------


class Socket:
    """A non-blocking socket whose blocking calls return operations.

    ``Socket(family=AF_INET, type=SOCK_STREAM, proto=0)`` opens a new socket; ``_sock=`` wraps an
    existing stdlib socket (it is made non-blocking). The wrapped socket is ``_fd``, as in the
    original.
    """

    __slots__ = ("_fd", "_timeout", "_rbuf", "_queues", "_watching", "__weakref__")

    def __init__(
        self,
        family: int = _socket.AF_INET,
        type: int = _socket.SOCK_STREAM,
        proto: int = 0,
        _timeout: Any = None,
        _sock: _socket.socket | None = None,
        _proactor_added: bool = False,
    ) -> None:
        if _sock is None:
            _sock = _socket.socket(family, type, proto)
        _sock.setblocking(False)
        self._fd = _sock
        self._timeout = getdefaulttimeout() if _timeout is None else _timeout
        # Bytes received but not yet handed out, shared by every reading operation (recv, the
        # file object from makefile(), the 0.1.x readline): mixing them never loses data.
        self._rbuf = bytearray()
        self._queues: tuple[collections.deque[_Waiter], collections.deque[_Waiter]] = (
            collections.deque(),
            collections.deque(),
        )
        # (loop, fd) while a reader / writer callback is registered.
        self._watching: list[tuple[asyncio.AbstractEventLoop, int] | None] = [None, None]

    # -- synchronous pass-throughs -----------------------------------------------------------

    def bind(self, address: Any) -> None:
        self._fd.bind(address)

    def listen(self, backlog: int = 128) -> None:
        self._fd.listen(backlog)

    def fileno(self) -> int:
        return self._fd.fileno()

    def getpeername(self) -> Any:
        return self._fd.getpeername()

    def getsockname(self) -> Any:
        return self._fd.getsockname()

    def setsockopt(self, *args: Any) -> None:
        self._fd.setsockopt(*args)

    def getsockopt(self, *args: Any) -> Any:
        return self._fd.getsockopt(*args)

    def shutdown(self, how: int) -> None:
        self._fd.shutdown(how)

    def settimeout(self, timeout: Any) -> None:
        """Timeout of the operations this socket's methods build: seconds, ``timedelta``,
        ``-1`` (never) or None (the server's default operation timeout)."""
        self._timeout = timeout

    def gettimeout(self) -> Any:
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        if flag:
            raise RuntimeError("cogen sockets are always non-blocking")

    def close(self) -> None:
        """Close the socket. Operations still waiting on it fail with ConnectionClosed."""
        for direction in (_READ, _WRITE):
            queue = self._queues[direction]
            waiters = list(queue)
            queue.clear()
            # Unregister before the descriptor is closed: its number can be reused at once.
            self._unwatch(direction)
            for waiter in waiters:
                if waiter.task is not None:
                    waiter.task.cancel()
                if not waiter.future.done():
                    waiter.future.set_exception(ConnectionClosed("the socket was closed"))
        self._fd.close()

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__} fd={self._fd.fileno()}>"

    # -- operations ---------------------------------------------------------------------------

    def _timed(self, kws: dict[str, Any]) -> dict[str, Any]:
        kws.setdefault("timeout", self._timeout)
        return kws

    def recv(self, bufsize: int, **kws: Any) -> Recv:
        """Non-empty data, at most ``bufsize`` bytes. End of file raises ConnectionClosed."""
        return Recv(self, bufsize, **self._timed(kws))

    def send(self, data: Any, **kws: Any) -> Send:
        """Send what the kernel takes now; the result is the number of bytes sent."""
        return Send(self, data, **self._timed(kws))

    def sendall(self, data: Any, **kws: Any) -> SendAll:
        """Send everything; the result is the number of bytes sent."""
        return SendAll(self, data, **self._timed(kws))

    def accept(self, **kws: Any) -> Accept:
        """``(Socket, address)``; the new socket is of this socket's class."""
        return Accept(self, **self._timed(kws))

    def connect(self, address: Any, **kws: Any) -> Connect:
        """Connect; the result is the socket itself. A refused connection raises SocketError
        (the original could report it as success, cogen-api.md §11; not reproduced)."""
        return Connect(self, address, **self._timed(kws))

    def sendfile(
        self,
        file: Any,
        offset: int | None = None,
        length: int | None = None,
        blocksize: int = 4096,
        **kws: Any,
    ) -> SendFile:
        """Send a file (from ``offset``, default its current position; ``length`` bytes, default
        to its end); the result is the number of bytes sent."""
        return SendFile(file, self, offset, length, blocksize, **self._timed(kws))

    def makefile(self, mode: str = "r", bufsize: int = -1) -> SocketFile:
        """A buffered file object whose methods return operations."""
        return SocketFile(self, mode, bufsize)

    # -- the 0.1.x API (cogen-api.md §11) -------------------------------------------------------

    def read(self, bufsize: int, **kws: Any) -> Recv:
        _deprecated("Socket.read", "Socket.recv")
        return Recv(self, bufsize, **self._timed(kws))

    def readall(self, bufsize: int, **kws: Any) -> RecvAll:
        _deprecated("Socket.readall", "RecvAll or makefile().read")
        return RecvAll(self, bufsize, **self._timed(kws))

    def readline(self, size: int, **kws: Any) -> _LineRead:
        _deprecated("Socket.readline", "makefile().readline")
        return _LineRead(self, size, **self._timed(kws))

    def write(self, data: Any, **kws: Any) -> Send:
        _deprecated("Socket.write", "Socket.send")
        return Send(self, data, **self._timed(kws))

    def writeall(self, data: Any, **kws: Any) -> SendAll:
        _deprecated("Socket.writeall", "Socket.sendall")
        return SendAll(self, data, **self._timed(kws))

    # -- the operation queues -----------------------------------------------------------------

    def _submit(self, op: SocketOperation, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        """Start ``op``: at once if nothing of its direction is queued, else after the others."""
        direction = op._direction
        queue = self._queues[direction]
        if queue and queue[0].loop is not loop:
            self._drop_stale(direction)
        waiter = _Waiter(op, loop)
        if not queue and op._try_first(loop) and waiter.attempt():
            return waiter.future
        queue.append(waiter)
        waiter.future.add_done_callback(functools.partial(self._forget, direction, waiter))
        if len(queue) == 1:
            self._wait(direction, waiter)
        return waiter.future

    def _drop_stale(self, direction: int) -> None:
        # Waiters of a loop that was closed while they waited (a finished Scheduler run, a
        # closed asyncio.Runner) will never be resolved: they must not hold up this loop's.
        queue = self._queues[direction]
        live = [waiter for waiter in queue if not waiter.loop.is_closed()]
        if len(live) != len(queue):
            queue.clear()
            queue.extend(live)
            watching = self._watching[direction]
            if watching is not None and watching[0].is_closed():
                self._watching[direction] = None

    def _wait(self, direction: int, head: _Waiter) -> None:
        loop = head.loop
        if _readiness(loop):
            if self._watching[direction] is not None:
                return
            fd = self._fd.fileno()
            try:
                if direction == _READ:
                    loop.add_reader(fd, self._ready, direction)
                else:
                    loop.add_writer(fd, self._ready, direction)
            except NotImplementedError:
                _no_readiness.add(loop)
            else:
                self._watching[direction] = (loop, fd)
                return
        if head.task is None:
            head.fall_back()

    def _ready(self, direction: int) -> None:
        """The socket is readable/writable, or the queue moved: serve waiters in order."""
        queue = self._queues[direction]
        while queue:
            head = queue[0]
            if head.task is not None and not head.future.done():
                return  # its fallback task is at work
            if head.attempt():
                queue.popleft()
                continue
            self._wait(direction, head)
            return
        self._unwatch(direction)

    def _forget(self, direction: int, waiter: _Waiter, future: asyncio.Future[Any]) -> None:
        # A waiter resolved other than by ``_ready``: timed out, cancelled (client gone), closed,
        # or finished by its fallback task.
        if waiter.task is not None:
            waiter.task.cancel()
        queue = self._queues[direction]
        try:
            queue.remove(waiter)
        except ValueError:
            return
        if queue:
            queue[0].loop.call_soon(self._ready, direction)
        else:
            self._unwatch(direction)

    def _unwatch(self, direction: int) -> None:
        watching = self._watching[direction]
        if watching is None:
            return
        self._watching[direction] = None
        loop, fd = watching
        if loop.is_closed():
            return
        try:
            if direction == _READ:
                loop.remove_reader(fd)
            else:
                loop.remove_writer(fd)
        except (OSError, ValueError):  # pragma: no cover - descriptor closed under us
            pass


# -- operations ----------------------------------------------------------------------------------


class SocketOperation(TimedOperation):
    """Base of the operations on a :class:`Socket`.

    Subclasses implement ``_step(raw)`` (one non-blocking system call: return the result,
    ``_AGAIN`` after partial progress, or raise ``BlockingIOError``) and ``_fallback(loop)``
    (the same with the loop's ``sock_*`` coroutines).
    """

    __slots__ = ("sock",)
    _direction = _READ

    def __init__(
        self,
        sock: Socket,
        timeout: Any = None,
        weak_timeout: bool = True,
        prio: int = DEFAULT_PRIORITY,
    ) -> None:
        if not isinstance(sock, Socket):
            raise TypeError(f"expected a cogen_aio.sockets.Socket, got {type(sock).__name__}")
        super().__init__(timeout, weak_timeout, prio)
        self.sock = sock

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        self._reset()
        return self.sock._submit(self, loop)

    def _reset(self) -> None:
        """Forget progress from an earlier run of the same operation object."""

    def _try_first(self, loop: asyncio.AbstractEventLoop) -> bool:
        return True

    def _step(self, raw: _socket.socket) -> Any:
        raise NotImplementedError

    async def _fallback(self, loop: asyncio.AbstractEventLoop) -> Any:
        raise NotImplementedError


# -- reading -------------------------------------------------------------------------------------


class _Receive(SocketOperation):
    """Reading operations: each takes what it needs from the socket's read buffer, receiving
    more until it is satisfied."""

    __slots__ = ()

    def _take(self, buf: bytearray) -> Any:
        """The result if ``buf`` holds enough (consuming it), else ``_MORE``."""
        raise NotImplementedError

    def _want(self, buffered: int) -> int:
        """How many bytes to ask ``recv`` for."""
        raise NotImplementedError

    def _lost(self, buf: bytearray) -> bytes:
        """At end of file: drop (and return) what this call had collected."""
        partial = bytes(buf)
        buf.clear()
        return partial

    def _step(self, raw: _socket.socket) -> Any:
        buf = self.sock._rbuf
        result = self._take(buf)
        if result is not _MORE:
            return result
        data = raw.recv(self._want(len(buf)))
        if not data:
            raise _eof(self._lost(buf))
        buf += data
        return _AGAIN

    async def _fallback(self, loop: asyncio.AbstractEventLoop) -> Any:
        buf = self.sock._rbuf
        while True:
            result = self._take(buf)
            if result is not _MORE:
                return result
            try:
                data = await loop.sock_recv(self.sock._fd, self._want(len(buf)))
            except OSError as exc:
                raise _translate(exc) from exc
            if not data:
                raise _eof(self._lost(buf))
            buf += data


def _cut(buf: bytearray, n: int) -> bytes:
    data = bytes(buf[:n])
    del buf[:n]
    return data


class Recv(_Receive):
    """``yield Recv(sock, len)``: non-empty data, at most ``len`` bytes; ConnectionClosed at EOF."""

    __slots__ = ("len",)

    def __init__(self, sock: Socket, len: int = 4096, **kws: Any) -> None:
        if len <= 0:
            raise ValueError("the receive size must be positive")
        super().__init__(sock, **kws)
        self.len = len

    def _take(self, buf: bytearray) -> Any:
        return _cut(buf, self.len) if buf else _MORE

    def _want(self, buffered: int) -> int:
        return self.len

    def _step(self, raw: _socket.socket) -> Any:
        buf = self.sock._rbuf
        if buf:
            return _cut(buf, self.len)
        data = raw.recv(self.len)  # straight to the caller, no copy through the buffer
        if not data:
            raise _eof()
        return data


class RecvAll(_Receive):
    """``yield RecvAll(sock, length)``: exactly ``length`` bytes; ConnectionClosed at EOF."""

    __slots__ = ("length",)

    def __init__(self, sock: Socket, length: int, **kws: Any) -> None:
        super().__init__(sock, **kws)
        self.length = length

    def _take(self, buf: bytearray) -> Any:
        return _cut(buf, self.length) if len(buf) >= self.length else _MORE

    def _want(self, buffered: int) -> int:
        return self.length - buffered


class _LineRead(_Receive):
    """The 0.1.x ``readline(size)``: a line of at most ``size`` bytes (newline included), or
    OverflowError (the buffered bytes are dropped, as in the original)."""

    __slots__ = ("len", "_seen")

    def __init__(self, sock: Socket, len: int = 4096, **kws: Any) -> None:
        super().__init__(sock, **kws)
        self.len = len
        self._seen = 0

    def _reset(self) -> None:
        self._seen = 0

    def _take(self, buf: bytearray) -> Any:
        limit = self.len
        nl = buf.find(b"\n", self._seen, limit)
        if nl >= 0:
            self._seen = 0
            return _cut(buf, nl + 1)
        if len(buf) >= limit:
            buf.clear()
            self._seen = 0
            raise OverflowError(f"Received {limit} bytes and no linebreak")
        self._seen = len(buf)
        return _MORE

    def _want(self, buffered: int) -> int:
        return self.len - buffered


# -- writing -------------------------------------------------------------------------------------


class _Transmit(SocketOperation):
    __slots__ = ("buff", "sent")
    _direction = _WRITE

    def __init__(self, sock: Socket, buff: Any, **kws: Any) -> None:
        super().__init__(sock, **kws)
        self.buff = _as_buffer(buff)
        self.sent = 0

    def _reset(self) -> None:
        self.sent = 0

    async def _fallback(self, loop: asyncio.AbstractEventLoop) -> Any:
        # These loops have no partial send: the rest of the buffer goes in one call.
        rest = memoryview(self.buff)[self.sent :]
        try:
            await loop.sock_sendall(self.sock._fd, rest)
        except OSError as exc:
            raise _translate(exc) from exc
        self.sent += len(rest)
        return self.sent

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} sock={self.sock!r} buff={len(self.buff)} bytes "
            f"sent={self.sent} timeout={self.timeout!r}>"
        )


class Send(_Transmit):
    """``yield Send(sock, data)``: the number of bytes the kernel took (may be fewer than
    ``len(data)``). On loops without readiness callbacks everything is sent."""

    __slots__ = ()

    def _step(self, raw: _socket.socket) -> Any:
        self.sent = raw.send(self.buff)
        return self.sent


class SendAll(_Transmit):
    """``yield SendAll(sock, data)``: send everything; the result is ``len(data)``."""

    __slots__ = ()

    def _step(self, raw: _socket.socket) -> Any:
        total = len(self.buff)
        if self.sent < total:
            with memoryview(self.buff) as view:
                self.sent += raw.send(view[self.sent :])
            if self.sent < total:
                return _AGAIN
        return self.sent


class SendFile(SocketOperation):
    """``yield SendFile(file, sock, offset=None, length=None, blocksize=4096)``: send a file,
    with ``os.sendfile`` where the platform has it, else read + send. ``offset`` defaults to the
    file's position, ``length`` to the rest of the file; ``blocksize`` bytes go per call (0: as
    much as possible). The result is the number of bytes sent; the file is left positioned after
    them.
    """

    __slots__ = ("file_handle", "offset", "position", "length", "blocksize", "sent", "_native")
    _direction = _WRITE

    def __init__(
        self,
        file_handle: Any,
        sock: Socket,
        offset: int | None = None,
        length: int | None = None,
        blocksize: int = 4096,
        **kws: Any,
    ) -> None:
        super().__init__(sock, **kws)
        self.file_handle = file_handle
        self.offset = self.position = file_handle.tell() if offset is None else offset
        self.length = length
        self.blocksize = blocksize
        self.sent = 0
        self._native = False

    def _reset(self) -> None:
        self.sent = 0
        self._native = hasattr(os, "sendfile") and _has_fileno(self.file_handle)

    def _count(self) -> int:
        size = self.blocksize if self.blocksize > 0 else 1 << 20
        if self.length is not None:
            size = min(size, self.length - self.sent)
        return size

    def _step(self, raw: _socket.socket) -> Any:
        if self.length is not None and self.sent >= self.length:
            return self._done()
        count = self._count()
        position = self.offset + self.sent
        if self._native:
            try:
                sent = os.sendfile(raw.fileno(), self.file_handle.fileno(), position, count)
            except OSError as exc:
                if exc.errno in _NO_SENDFILE and self.sent == 0:
                    self._native = False
                    return _AGAIN
                raise
        else:
            self.file_handle.seek(position)
            data = self.file_handle.read(count)
            sent = raw.send(data) if data else 0
        if not sent:
            return self._done()  # the file is exhausted
        self.sent += sent
        self.position = self.offset + self.sent
        return _AGAIN

    def _done(self) -> int:
        self.file_handle.seek(self.offset + self.sent)
        return self.sent

    async def _fallback(self, loop: asyncio.AbstractEventLoop) -> Any:
        count = None
        if self.length is not None:
            count = self.length - self.sent
            if count <= 0:
                return self._done()
        try:
            sent = await loop.sock_sendfile(
                self.sock._fd, self.file_handle, self.offset + self.sent, count
            )
        except OSError as exc:
            raise _translate(exc) from exc
        self.sent += sent
        return self._done()


def _has_fileno(file: Any) -> bool:
    try:
        file.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
    return True


# -- connections ---------------------------------------------------------------------------------


class Accept(SocketOperation):
    """``yield Accept(sock)``: ``(Socket, address)``, the new socket of ``sock``'s class."""

    __slots__ = ("conn", "addr")

    def __init__(self, sock: Socket, **kws: Any) -> None:
        super().__init__(sock, **kws)
        self.conn: Socket | None = None
        self.addr: Any = None

    def _step(self, raw: _socket.socket) -> Any:
        try:
            conn, addr = raw.accept()
        except OSError as exc:
            if exc.errno in _ACCEPT_RETRY:
                return _AGAIN  # that client gave up; wait for the next one
            raise
        return self._wrap(conn, addr)

    def _wrap(self, conn: _socket.socket, addr: Any) -> tuple[Socket, Any]:
        self.conn = type(self.sock)(_sock=conn)
        self.addr = addr
        return self.conn, addr

    async def _fallback(self, loop: asyncio.AbstractEventLoop) -> Any:
        try:
            conn, addr = await loop.sock_accept(self.sock._fd)
        except OSError as exc:
            raise _translate(exc) from exc
        return self._wrap(conn, addr)


class Connect(SocketOperation):
    """``yield Connect(sock, address)``: the result is ``sock``. Refused → SocketError.

    Host names are resolved with ``loop.getaddrinfo`` first, so the loop never blocks on DNS.
    """

    __slots__ = ("addr", "_attempted")
    _direction = _WRITE

    def __init__(self, sock: Socket, addr: Any, **kws: Any) -> None:
        super().__init__(sock, **kws)
        self.addr = addr
        self._attempted = False

    def _reset(self) -> None:
        self._attempted = False

    def _try_first(self, loop: asyncio.AbstractEventLoop) -> bool:
        # A proactor's ConnectEx must be the first connect on the socket.
        return _readiness(loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        host = _needs_lookup(self.sock._fd, self.addr)
        if host is None or not _readiness(loop):
            return super()._start(loop)
        raw = self.sock._fd
        lookup = asyncio.ensure_future(
            loop.getaddrinfo(host, self.addr[1], family=raw.family, type=raw.type, proto=raw.proto),
            loop=loop,
        )
        outer = loop.create_future()

        def resolved(done: asyncio.Future[Any]) -> None:
            if outer.done():
                return
            if done.cancelled():
                outer.cancel()
                return
            exc = done.exception()
            if exc is not None:
                outer.set_exception(_translate(exc) if isinstance(exc, OSError) else exc)
                return
            self.addr = done.result()[0][4]
            _chain(super(Connect, self)._start(loop), outer)

        lookup.add_done_callback(resolved)
        outer.add_done_callback(lambda _: lookup.cancel())
        return outer

    def _step(self, raw: _socket.socket) -> Any:
        if not self._attempted:
            self._attempted = True
            err = raw.connect_ex(self.addr)
        else:
            err = raw.getsockopt(_socket.SOL_SOCKET, _socket.SO_ERROR)
        if err == 0 or err == _errno.EISCONN:
            return self.sock
        if err in _CONNECTING:
            raise BlockingIOError(err, os.strerror(err))
        raise OSError(err, os.strerror(err))

    async def _fallback(self, loop: asyncio.AbstractEventLoop) -> Any:
        try:
            await loop.sock_connect(self.sock._fd, self.addr)
        except OSError as exc:
            raise _translate(exc) from exc
        return self.sock


def _needs_lookup(raw: _socket.socket, addr: Any) -> str | None:
    """The host name of an INET address that is not a numeric IP, else None."""
    if raw.family not in (_socket.AF_INET, _socket.AF_INET6) or not isinstance(addr, tuple):
        return None
    host = addr[0]
    if not isinstance(host, str) or not host:
        return None
    try:
        _socket.inet_pton(raw.family, host.partition("%")[0])
    except OSError:
        return host
    return None


# -- the file object -----------------------------------------------------------------------------


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
        _chain(SendAll(self._socket(), data, timeout=-1)._start(loop), outer, lambda _: ())
        return outer

    def __repr__(self) -> str:
        return f"<{type(self).__name__} over {self._sock!r} mode={self.mode!r}>"


#: The original's class name (``cogen.core.sockets._fileobject``).
_fileobject = SocketFile


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


class _FileFlush(TimedOperation):
    __slots__ = ("file",)

    def __init__(self, file: SocketFile, **kws: Any) -> None:
        super().__init__(**kws)
        self.file = file

    def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
        self.file._socket()
        return self.file._flush(loop)


class _FileClose(TimedOperation):
    __slots__ = ("file",)

    def __init__(self, file: SocketFile, **kws: Any) -> None:
        super().__init__(**kws)
        self.file = file

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


# -- the 0.1.x operation classes -----------------------------------------------------------------


class Read(Recv):
    """0.1.x name of :class:`Recv`."""

    __slots__ = ()

    def __init__(self, sock: Socket, len: int = 4096, **kws: Any) -> None:
        _deprecated("sockets.Read", "sockets.Recv")
        super().__init__(sock, len, **kws)


class ReadAll(RecvAll):
    """0.1.x: exactly ``len`` bytes (:class:`RecvAll`)."""

    __slots__ = ()

    def __init__(self, sock: Socket, len: int = 4096, **kws: Any) -> None:
        _deprecated("sockets.ReadAll", "sockets.RecvAll")
        super().__init__(sock, len, **kws)


class ReadLine(_LineRead):
    """0.1.x: a line of at most ``len`` bytes, or OverflowError."""

    __slots__ = ()

    def __init__(self, sock: Socket, len: int = 4096, **kws: Any) -> None:
        _deprecated("sockets.ReadLine", "Socket.makefile().readline")
        super().__init__(sock, len, **kws)


class Write(Send):
    """0.1.x name of :class:`Send`."""

    __slots__ = ()

    def __init__(self, sock: Socket, buff: Any, **kws: Any) -> None:
        _deprecated("sockets.Write", "sockets.Send")
        super().__init__(sock, buff, **kws)


class WriteAll(SendAll):
    """0.1.x name of :class:`SendAll`."""

    __slots__ = ()

    def __init__(self, sock: Socket, buff: Any, **kws: Any) -> None:
        _deprecated("sockets.WriteAll", "sockets.SendAll")
        super().__init__(sock, buff, **kws)
