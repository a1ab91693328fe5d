"""The base of every operation on a :class:`~cogen_aio.sockets.Socket`, and of the reading ones:
how a read takes its result from the socket's shared read buffer and receives more."""

from __future__ import annotations

import asyncio
import socket as _socket
from typing import TYPE_CHECKING, Any

from ..ops import DEFAULT_PRIORITY, TimedOperation
from .errors import _eof, _translate
from .waiting import _AGAIN, _MORE, _READ

if TYPE_CHECKING:
    from .sock import Socket


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
        if not isinstance(sock, _sock_module.Socket):
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


# Last, and as a module: sock.py imports the operation modules, which need the classes above
# complete; Socket itself is only looked up when an operation is built.
from . import sock as _sock_module  # noqa: E402
