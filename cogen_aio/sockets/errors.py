"""The exceptions socket operations raise, and how an ``OSError`` becomes one of them."""

from __future__ import annotations

import errno as _errno

#: The peer is gone: these become :class:`ConnectionClosed` (the original mapped EPIPE; a reset
#: or an aborted connection is the same thing to an app).
_CLOSED_ERRNOS = frozenset({_errno.EPIPE, _errno.ECONNRESET, _errno.ECONNABORTED})


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

