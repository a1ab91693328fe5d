"""Response bytes leave once per turn of the loop, not once per response.

A response written the moment it is ready costs a send per response, and on loopback or a
virtual machine each of those sends also pays for waking the peer. Under load the loop reads
many requests in one turn; holding the responses they produce until the end of that turn and
writing each connection's bytes in one send means the client is woken once per burst instead of
once per response (the same idea as Netty's flush consolidation). A response is held for at most
one turn of the loop, and never more than ``LIMIT`` bytes per connection: larger writes go out
at once, so flow control (``pause_writing``) sees them as before.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

#: Bytes a connection may hold back; a write that reaches this goes out at once.
LIMIT = 65536


class Flushable(Protocol):
    def flush(self) -> None:
        """Hand what the connection holds back to its transport."""


class WriteCoalescer:
    """The connections of one server that hold bytes back, flushed together at the end of the
    current turn of the loop."""

    __slots__ = ("_loop", "_waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: list[Flushable] = []

    def schedule(self, connection: Flushable) -> None:
        """``connection`` holds bytes back: flush it at the end of this turn."""
        if not self._waiting:
            self._loop.call_soon(self._flush)
        self._waiting.append(connection)

    def _flush(self) -> None:
        waiting = self._waiting
        self._waiting = []
        for connection in waiting:
            connection.flush()
