"""The :class:`Socket` class: synchronous pass-throughs, the methods that build operations, and
the per-direction queues that run those operations in the order they started."""

from __future__ import annotations

import asyncio
import collections
import functools
import socket as _socket
from typing import TYPE_CHECKING, Any

# Module references, not names: the operation modules subclass operations.SocketOperation, which
# checks for Socket, so whichever side is imported first must not need the other one complete.
from . import connecting as _connecting
from . import fileobject as _file
from . import reading as _reading
from . import writing as _writing
from .errors import ConnectionClosed
from .settings import _deprecated, getdefaulttimeout
from .waiting import _READ, _WRITE, _no_readiness, _readiness, _Waiter

if TYPE_CHECKING:
    from .connecting import Accept, Connect
    from .fileobject import SocketFile
    from .operations import SocketOperation
    from .reading import _LineRead, Recv, RecvAll
    from .writing import Send, SendAll, SendFile


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
        return _reading.Recv(self, bufsize, **self._timed(kws))

    def send(self, data: Any, **kws: Any) -> Send:
        """Send what the kernel takes now; the result is the number of bytes sent."""
        return _writing.Send(self, data, **self._timed(kws))

    def sendall(self, data: Any, **kws: Any) -> SendAll:
        """Send everything; the result is the number of bytes sent."""
        return _writing.SendAll(self, data, **self._timed(kws))

    def accept(self, **kws: Any) -> Accept:
        """``(Socket, address)``; the new socket is of this socket's class."""
        return _connecting.Accept(self, **self._timed(kws))

    def connect(self, address: Any, **kws: Any) -> Connect:
        """Connect; the result is the socket itself. A refused connection raises SocketError
        (the original could report it as success, cogen-api.md §11; not reproduced)."""
        return _connecting.Connect(self, address, **self._timed(kws))

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
        return _writing.SendFile(file, self, offset, length, blocksize, **self._timed(kws))

    def makefile(self, mode: str = "r", bufsize: int = -1) -> SocketFile:
        """A buffered file object whose methods return operations."""
        return _file.SocketFile(self, mode, bufsize)

    # -- the 0.1.x API (cogen-api.md §11) -------------------------------------------------------

    def read(self, bufsize: int, **kws: Any) -> Recv:
        _deprecated("Socket.read", "Socket.recv")
        return _reading.Recv(self, bufsize, **self._timed(kws))

    def readall(self, bufsize: int, **kws: Any) -> RecvAll:
        _deprecated("Socket.readall", "RecvAll or makefile().read")
        return _reading.RecvAll(self, bufsize, **self._timed(kws))

    def readline(self, size: int, **kws: Any) -> _LineRead:
        _deprecated("Socket.readline", "makefile().readline")
        return _reading._LineRead(self, size, **self._timed(kws))

    def write(self, data: Any, **kws: Any) -> Send:
        _deprecated("Socket.write", "Socket.send")
        return _writing.Send(self, data, **self._timed(kws))

    def writeall(self, data: Any, **kws: Any) -> SendAll:
        _deprecated("Socket.writeall", "Socket.sendall")
        return _writing.SendAll(self, data, **self._timed(kws))

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

