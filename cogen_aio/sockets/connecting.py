"""The operations that make connections: :class:`Accept` and :class:`Connect` (with its
non-blocking host name lookup)."""

from __future__ import annotations

import asyncio
import errno as _errno
import os
import socket as _socket
from typing import TYPE_CHECKING, Any

from .errors import _translate
from .operations import SocketOperation
from .waiting import _AGAIN, _WRITE, _chain, _readiness

if TYPE_CHECKING:
    from .sock import Socket

_CONNECTING = frozenset(
    {_errno.EINPROGRESS, _errno.EWOULDBLOCK, _errno.EAGAIN, _errno.EALREADY, _errno.EINTR}
)
#: ``accept`` failures that only concern the connection that was being accepted.
_ACCEPT_RETRY = frozenset({_errno.ECONNABORTED, _errno.EPROTO})


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

