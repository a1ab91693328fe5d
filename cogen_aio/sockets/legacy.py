"""The 0.1.x operation classes (cogen-api.md §11): the old names of the operations, each
warning once per process that it is deprecated."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .reading import _LineRead, Recv, RecvAll
from .settings import _deprecated
from .writing import Send, SendAll

if TYPE_CHECKING:
    from .sock import Socket


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
