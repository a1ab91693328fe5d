"""The writing operations on a socket: :class:`Send`, :class:`SendAll` and :class:`SendFile`."""

from __future__ import annotations

import asyncio
import errno as _errno
import io
import os
import socket as _socket
from typing import TYPE_CHECKING, Any

from .errors import _translate
from .operations import SocketOperation
from .settings import _as_buffer
from .waiting import _AGAIN, _WRITE

if TYPE_CHECKING:
    from .sock import Socket

#: ``os.sendfile`` refusing this pair of descriptors: fall back to read + send.
_NO_SENDFILE = frozenset(
    {_errno.EINVAL, _errno.ENOSYS, _errno.ENOTSOCK, _errno.EOPNOTSUPP, _errno.ENOTSUP}
)


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

