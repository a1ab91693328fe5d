"""The reading operations on a socket: :class:`Recv`, :class:`RecvAll` and the 0.1.x
line read behind ``Socket.readline`` and ``ReadLine``."""

from __future__ import annotations

import socket as _socket
from typing import TYPE_CHECKING, Any

from .errors import _eof
from .operations import _cut, _Receive
from .waiting import _MORE

if TYPE_CHECKING:
    from .sock import Socket


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
