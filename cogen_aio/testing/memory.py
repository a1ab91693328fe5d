"""An in-memory connection: the server's protocol on one end, a test client on the other, no
socket in between.

:class:`MemoryTransport` is the server's end and behaves as the loop's socket transports do, so
the protocol code runs exactly as in production; :class:`MemoryChannel` is the client's end, what
a :class:`~cogen_aio.testing.Connection` reads and writes.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Callable


class MemoryTransport(asyncio.transports._FlowControlMixin):
    """The server's end of an in-memory connection: an ``asyncio.Transport`` with the semantics
    of the loop's socket transports (flow control with a high-water mark, ``eof_received`` then
    close, ``connection_lost`` on the next turn), but no socket.

    The send buffer is what the client has not read yet: a client that stops reading makes the
    server's protocol see ``pause_writing``, as a full socket buffer would. Bytes the client sends
    while the server has paused reading wait until it resumes. (``_FlowControlMixin`` is the base
    of asyncio's own transports; ``loop.sendfile`` falls back to plain writes only for its
    subclasses, so ``wsgi.file_wrapper`` responses work in memory too.)
    """

    _ports = itertools.count()

    # _FlowControlMixin's, which typeshed leaves out.
    _loop: asyncio.AbstractEventLoop
    _maybe_pause_protocol: Callable[[], None]
    _maybe_resume_protocol: Callable[[], None]

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.Protocol,
        *,
        peername: tuple[str, int] | None = None,
        sockname: Any = ("127.0.0.1", 80),
    ) -> None:
        extra = {
            # A distinct port per connection, as REMOTE_PORT would be on a socket.
            "peername": peername or ("127.0.0.1", 50000 + next(MemoryTransport._ports) % 15000),
            "sockname": sockname,
            "socket": None,
        }
        super().__init__(extra, loop)
        self._protocol: asyncio.BaseProtocol = protocol
        #: The client's end.
        self.peer = MemoryChannel(self)
        self._incoming: list[bytes | None] = []  # None is the client's EOF
        self._delivery: asyncio.Handle | None = None
        self._reading = True
        self._closing = False
        self._lost = False
        self._eof_written = False
        self.aborted = False

    # -- the server's side (asyncio.Transport) ---------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._eof_written:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._lost or not data:
            return
        self.peer._feed(bytes(data))
        self._maybe_pause_protocol()

    def get_write_buffer_size(self) -> int:
        return 0 if self.peer.closed else len(self.peer.unread)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if not self._eof_written:
            self._eof_written = True
            self.peer._end()

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        if not self._reading:
            self._reading = True
            self._schedule_delivery()

    def is_reading(self) -> bool:
        return self._reading and not self._closing

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._loop.call_soon(self._lose, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def _lose(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self.peer._end(reset=self.aborted or exc is not None)
        self._protocol.connection_lost(exc)

    # -- what the client's end does to it --------------------------------------------------------

    def _receive(self, data: bytes | None) -> None:
        """Bytes from the client (None: its EOF), handed to the protocol in a later turn."""
        if self._lost or self._closing:
            return  # the kernel would take the bytes and then reset; nobody reads them
        self._incoming.append(data)
        self._schedule_delivery()

    def _schedule_delivery(self) -> None:
        if self._delivery is None and self._incoming and self._reading and not self._closing:
            self._delivery = self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        # One data_received per client write, as a socket mostly delivers them; in a later turn
        # than the write, as a socket does.
        self._delivery = None
        protocol: Any = self._protocol
        while self._incoming and self._reading and not self._closing:
            data = self._incoming.pop(0)
            if data is None:
                if not protocol.eof_received():
                    self.close()
                return
            protocol.data_received(data)

    def _drained(self) -> None:
        """The client read what was buffered: a paused protocol may write again."""
        if not self._lost:
            self._maybe_resume_protocol()

    def _reset_by_client(self) -> None:
        if not self._lost:
            self._closing = True
            reset = ConnectionResetError("the client reset the connection")
            self._loop.call_soon(self._lose, reset)


class MemoryChannel:
    """The client's end of an in-memory connection: what the server wrote and the client has not
    read yet, and the client's half of the conversation (the kit's channel interface)."""

    def __init__(self, transport: MemoryTransport) -> None:
        self.transport = transport
        self.unread = bytearray()
        self.reset = False  # the server aborted, or the client did
        self.closed = False  # the client closed its end: the server's writes go nowhere
        self._ended = False  # the server closed its side: nothing comes after ``unread``
        self._eof_sent = False
        self._waiter: asyncio.Future[None] | None = None

    @property
    def eof(self) -> bool:
        """Every byte the server sent before closing has been read."""
        return self._ended and not self.unread

    # -- the server's side (called by the transport) ---------------------------------------------

    def _feed(self, data: bytes) -> None:
        if not self.closed:
            self.unread += data
            self._wake()

    def _end(self, reset: bool = False) -> None:
        self._ended = True
        self.reset = self.reset or reset
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the client's side -----------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        if self._eof_sent or self.closed:
            raise RuntimeError("the client already closed its side of the connection")
        if data:
            self.transport._receive(data)

    async def recv(self) -> bytes:
        """What arrived, waiting for something; ``b""`` once the server closed."""
        while not self.unread and not self._ended:
            self._waiter = self.transport._loop.create_future()
            await self._waiter
        data = bytes(self.unread)
        self.unread.clear()
        if data:
            self.transport._drained()
        return data

    def write_eof(self) -> None:
        if not self._eof_sent:
            self._eof_sent = True
            self.transport._receive(None)

    def close_nowait(self) -> None:
        self.write_eof()
        self.closed = True
        self.unread.clear()

    async def close(self) -> None:
        self.close_nowait()

    def abort(self) -> None:
        self.closed = True
        self.transport._reset_by_client()
