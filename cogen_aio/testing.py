"""Testing cogen_aio apps against the real server, in the test's own event loop.

- :class:`LiveServer` runs the real server on TCP (port 0), a UNIX socket, or an in-memory transport
  that drives the same protocol code without a socket. ``await server.start()`` returns once it
  accepts connections; there is nothing to poll and no thread.
- :class:`Client` is a small HTTP/1.1 client built on h11: whole responses, responses streamed as
  they arrive (long-poll, chunked), pipelining, ``Expect: 100-continue``. :meth:`Client.connect`
  gives a :class:`Connection` for raw bytes (malformed requests, byte-exact assertions).
- :class:`VirtualClock` makes the loop's clock virtual: ``Sleep(30)``, ``queue.get(timeout=30)`` and
  keep-alive timeouts finish at once and always in the same order.
- :func:`sync_app` turns a cogen app into a plain WSGI app for synchronous tests (WebTest).

The pytest fixtures in :mod:`cogen_aio.pytest_plugin` are thin wrappers around these classes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json as jsonlib
import math
import os
import selectors
import shutil
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from typing import (
    Any,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Protocol,
    Sequence,
    TypeVar,
    Union,
)
from urllib.parse import urlencode

import h11

from .config import Config
from .server import Server, ServerState

__all__ = [
    "LiveServer",
    "Client",
    "Connection",
    "Response",
    "StreamResponse",
    "Headers",
    "ServerDisconnected",
    "MemoryTransport",
    "VirtualClock",
    "VirtualClockUnavailable",
    "virtual_clock_loop",
    "wait_until",
    "build_request",
    "sync_app",
    "SyncApp",
    "CogenServerFactory",
    "CogenClientFactory",
    "CogenHttpxFactory",
]

T = TypeVar("T")
WSGIApp = Callable[..., Any]
HeaderList = Union[Mapping[str, str], Sequence[tuple[str, str]], None]
Body = Union[bytes, str, Iterable[bytes], AsyncIterable[bytes], None]

#: Default hang guard, in real seconds: turns a hang into a failure, never measures anything.
TIMEOUT = 10.0
TRANSPORTS = ("tcp", "unix", "memory")


class ServerDisconnected(ConnectionError):
    """The server closed the connection before a response began."""


# -- responses ----------------------------------------------------------------------------------


class Headers(Mapping[str, str]):
    """Response headers: names are case-insensitive; a repeated field reads as one value joined
    with ``", "`` (RFC 9110 §5.3), :meth:`getall` gives each. ``raw`` keeps the order and case."""

    __slots__ = ("raw",)

    def __init__(self, raw: Iterable[tuple[str, str]] = ()) -> None:
        self.raw: list[tuple[str, str]] = list(raw)

    def getall(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.raw if key.lower() == name]

    def __getitem__(self, name: str) -> str:
        values = self.getall(name)
        if not values:
            raise KeyError(name)
        return ", ".join(values)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(key.lower() for key, _ in self.raw))

    def __len__(self) -> int:
        return len(set(key.lower() for key, _ in self.raw))

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"


def _headers_from(h11_headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    return Headers((n.decode("latin-1"), v.decode("latin-1")) for n, v in h11_headers)


@dataclass
class Response:
    """One complete response (or as much as arrived: see ``complete``)."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    #: Status codes of the 1xx responses that came first (``[100]`` after ``100 Continue``).
    informational: list[int] = field(default_factory=list)
    #: False when the server closed before the end of the body (an aborted response).
    complete: bool = True
    #: Whether the connection can carry another request after this one.
    keep_alive: bool = True
    #: The body's transfer chunks as the server framed them (chunked responses only).
    chunks: list[bytes] = field(default_factory=list)
    #: This response's bytes as they came off the wire, head and framing included.
    raw: bytes = b""
    http_version: str = "1.1"

    @property
    def text(self) -> str:
        return self.body.decode(_charset(self.headers.get("content-type", "")), "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.body)

    def __repr__(self) -> str:
        extra = "" if self.complete else " incomplete"
        return f"<Response {self.status} {self.reason}{extra} body={self.body[:80]!r}>"


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


def build_request(
    method: str = "GET",
    target: str = "/",
    headers: HeaderList = None,
    body: bytes = b"",
    version: str = "1.1",
) -> bytes:
    """The bytes of a request, written as given: nothing is validated, so it can be malformed on
    purpose. ``Host`` (HTTP/1.1) and ``Content-Length`` (when there is a body) are added unless
    ``headers`` has them."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
    names = {name.lower() for name, _ in pairs}
    lines = [f"{method} {target} HTTP/{version}"]
    if "host" not in names and version == "1.1":
        lines.append("Host: testserver")
    lines.extend(f"{name}: {value}" for name, value in pairs)
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- the virtual clock --------------------------------------------------------------------------


class VirtualClockUnavailable(RuntimeError):
    """The loop cannot take a virtual clock (uvloop, the Windows proactor loop)."""


class _RealTimer:
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: _RealTimer) -> bool:
        return self.when < other.when


#: Rounding slack of :meth:`VirtualClock.advance`, in seconds.
_SNAP = 1e-6

_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VirtualClock] = (
    weakref.WeakKeyDictionary()
)


class VirtualClock:
    """Virtual time for one asyncio loop: ``loop.time()`` only moves when the clock says so.

    The server's timers (``call_later``/``call_at``) and operation deadlines (``loop.time()``)
    then follow virtual time. Two ways to move it:

    - ``auto=True`` (the default): whenever the loop has nothing to do but wait for a timer, time
      jumps to that timer, so a test waiting on ``Sleep(30)`` finishes at once. Timers fire in
      deadline order, exactly as they would in real time, with nothing happening in between.
    - :meth:`advance`: move time forward by that many seconds now, firing the timers due on the way
      at their own deadlines (the only way time moves when ``auto=False``).

    Installed on a running loop by replacing its ``time`` and wrapping its selector, which only
    asyncio's pure-Python selector loops allow; other loops raise :class:`VirtualClockUnavailable`.
    Real sockets make virtual time unsound (a jump can happen while bytes are still on their way
    through the kernel): use the in-memory transport with it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, auto: bool = True) -> None:
        if not isinstance(loop, asyncio.BaseEventLoop) or not isinstance(
            getattr(loop, "_selector", None), selectors.BaseSelector
        ):
            raise VirtualClockUnavailable(
                "a virtual clock needs asyncio's selector event loop, not "
                f"{type(loop).__module__}.{type(loop).__qualname__}"
            )
        self.loop = loop
        self.auto = auto
        # Virtual time starts at 0: runs are reproducible, whole (and binary-fraction) durations
        # add up exactly (``clock.elapsed == 30.0``), and small numbers keep asyncio's 1 ns clock
        # resolution representable (near a monotonic clock's 1e7 s it is not).
        self._now = 0.0
        self.start = 0.0
        self._real_timers: list[_RealTimer] = []
        self._settlers: list[asyncio.Future[None]] = []
        self._pollers: list[tuple[int, asyncio.Future[None]]] = []
        self._busy = 0  # loop iterations that had work (see _select)
        self._selector: _VirtualSelector | None = None

    # -- installing ------------------------------------------------------------------------------

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop | None = None) -> VirtualClock | None:
        """The clock installed on ``loop`` (the running loop by default), if any."""
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return None
        return _clocks.get(loop)

    @classmethod
    def install(
        cls, loop: asyncio.AbstractEventLoop | None = None, *, auto: bool = True
    ) -> VirtualClock:
        """Give ``loop`` (the running loop by default) a virtual clock. Virtual time starts at 0;
        timers already pending keep their remaining delay (deadlines computed earlier and kept
        elsewhere do not follow: install the clock first). ``RuntimeError`` if it has one."""
        loop = loop or asyncio.get_running_loop()
        if loop in _clocks:
            raise RuntimeError("this loop already has a virtual clock")
        clock = cls(loop, auto=auto)
        _shift_timers(loop, clock._now - loop.time())  # pending timers keep their delay
        clock._selector = _VirtualSelector(loop._selector, clock)  # type: ignore[attr-defined]
        loop._selector = clock._selector  # type: ignore[attr-defined]
        loop.time = clock.time  # type: ignore[method-assign]
        _clocks[loop] = clock
        return clock

    def uninstall(self) -> None:
        """Back to real time. Pending timers keep their remaining (virtual) delay."""
        loop = self.loop
        if _clocks.get(loop) is not self:
            return
        del _clocks[loop]
        del loop.time  # the instance attribute: the class's method shows through again
        assert self._selector is not None
        loop._selector = self._selector.real  # type: ignore[attr-defined]
        _shift_timers(loop, loop.time() - self._now)
        for future in self._settlers + [future for _, future in self._pollers]:
            if not future.done():
                future.set_result(None)
        self._settlers.clear()
        self._pollers.clear()

    # -- time ------------------------------------------------------------------------------------

    def time(self) -> float:
        return self._now

    def _jump(self, when: float) -> None:
        """Move time to the deadline ``when`` so that the loop sees its timer due."""
        if when + self.loop._clock_resolution <= when:  # type: ignore[attr-defined]
            # The loop takes a timer when ``when < time() + resolution``; far from 0 the
            # resolution is below a float's precision, so land just past the deadline.
            when = math.nextafter(when, math.inf)
        self._now = max(self._now, when)

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the clock was installed."""
        return self._now - self.start

    def next_timer(self) -> float | None:
        """Virtual seconds until the loop's next timer, or None when none is pending."""
        when = self._next_when()
        return None if when is None else max(0.0, when - self._now)

    def _next_when(self) -> float | None:
        scheduled = self.loop._scheduled  # type: ignore[attr-defined]
        live = [handle.when() for handle in scheduled if not handle.cancelled()]
        return min(live) if live else None

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` forward, firing each timer due on the way at its deadline and
        letting the loop run until idle after each, then at the target time.

        A timer due within a microsecond after the target fires too: ``advance(9.999)`` then
        ``advance(0.001)`` reaches a 10 s deadline whatever the floating-point rounding.
        """
        if seconds < 0:
            raise ValueError("time does not go backwards")
        target = self._now + seconds
        while True:
            await self.settle()
            when = self._next_when()
            if when is None or when > target + _SNAP:
                break
            self._jump(when)
        self._now = max(self._now, target)
        await self.settle()

    async def settle(self) -> None:
        """Let the loop run until it has nothing left to do without time moving."""
        future = self.loop.create_future()
        self._settlers.append(future)
        await future

    async def _next_round(self) -> None:
        """For pollers: resume once something else ran (after time moved, if nothing else could
        happen). Never keeps an auto clock from advancing."""
        future = self.loop.create_future()
        self._pollers.append((self._busy, future))
        await future

    def call_later_real(self, delay: float, callback: Callable[[], None]) -> _RealTimer:
        """Call ``callback`` on the loop after ``delay`` *real* seconds (hang guards)."""
        timer = _RealTimer(time.monotonic() + delay, callback)
        heapq.heappush(self._real_timers, timer)
        return timer

    # -- the selector's side ---------------------------------------------------------------------

    def _select(self, real: selectors.BaseSelector, timeout: float | None) -> list[Any]:
        self._fire_real_timers()
        events = real.select(0)
        if events or timeout == 0:
            self._busy += 1
            return events
        # The loop is idle: nothing ready, no timer due, no I/O.
        if self._settlers:
            settlers, self._settlers = self._settlers, []
            _wake(settlers)
            return []
        fresh = [future for seen, future in self._pollers if seen < self._busy]
        if fresh:
            self._pollers = [(seen, f) for seen, f in self._pollers if seen >= self._busy]
            _wake(fresh)
            return []
        if self.auto and timeout is not None:
            when = self._next_when()
            if when is not None:
                self._jump(when)
                self._busy += 1  # the timers it fires count as work for pollers
                return []
        # Nothing will happen in virtual time: wait for real I/O (another thread, a socket) or
        # the next hang guard.
        events = real.select(self._real_wait())
        if events:
            self._busy += 1
        self._fire_real_timers()
        return events

    def _real_wait(self) -> float | None:
        timers = self._real_timers
        while timers and timers[0].cancelled:
            heapq.heappop(timers)
        if not timers:
            return None
        return max(0.0, timers[0].when - time.monotonic())

    def _fire_real_timers(self) -> None:
        timers = self._real_timers
        now = time.monotonic()
        while timers and (timers[0].cancelled or timers[0].when <= now):
            timer = heapq.heappop(timers)
            if not timer.cancelled:
                self.loop.call_soon(timer.callback)
                self._busy += 1


def _shift_timers(loop: asyncio.AbstractEventLoop, shift: float) -> None:
    for handle in loop._scheduled:  # type: ignore[attr-defined]
        handle._when += shift  # a uniform shift keeps the heap ordered


def _wake(futures: Iterable[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


class _VirtualSelector(selectors.BaseSelector):
    """Wraps the loop's selector: ``select`` is where the loop would block, so it is where
    virtual time moves."""

    def __init__(self, real: selectors.BaseSelector, clock: VirtualClock) -> None:
        self.real = real
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[Any]:
        return self.clock._select(self.real, timeout)

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self.real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self.real.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self.real.get_key(fileobj)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self.real.get_map()

    def close(self) -> None:
        self.real.close()


def virtual_clock_loop(auto: bool = True) -> asyncio.AbstractEventLoop:
    """A new selector event loop with a virtual clock: a loop factory for ``asyncio.Runner`` or
    pytest-asyncio's ``pytest_asyncio_loop_factories`` hook."""
    loop = asyncio.SelectorEventLoop()
    VirtualClock.install(loop, auto=auto)
    return loop


# -- waiting ------------------------------------------------------------------------------------


async def _guard(awaitable: Awaitable[T], timeout: float | None, what: str) -> T:
    """Await ``awaitable``; raise ``TimeoutError`` after ``timeout`` real seconds (also under a
    virtual clock, where the loop's own timers would fire at once)."""
    if timeout is None:
        return await awaitable
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(awaitable)
    expired = False

    def expire() -> None:
        nonlocal expired
        if not task.done():
            expired = True
            task.cancel()

    clock = VirtualClock.of(loop)
    timer: Any
    if clock is not None:
        timer = clock.call_later_real(timeout, expire)
    else:
        timer = loop.call_later(timeout, expire)
    try:
        return await task
    except asyncio.CancelledError:
        if expired:
            raise TimeoutError(f"{what}: still waiting after {timeout} s") from None
        raise
    finally:
        timer.cancel()


async def wait_until(
    predicate: Callable[[], Any], timeout: float | None = TIMEOUT, what: str | None = None
) -> Any:
    """Let the loop run until ``predicate()`` is true and return its value.

    Under a virtual clock it is checked each time something ran and never holds time back; with
    real time it is polled every millisecond. ``TimeoutError`` after ``timeout`` real seconds.
    """
    value = predicate()
    if value:
        return value

    async def poll() -> Any:
        delay = 0.0005
        while True:
            clock = VirtualClock.of()
            if clock is not None:
                await clock._next_round()
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.01)
            value = predicate()
            if value:
                return value

    return await _guard(poll(), timeout, what or f"waiting until {predicate!r}")


# -- the in-memory transport --------------------------------------------------------------------


class _Peer:
    """The client's end of an in-memory connection: what the server wrote, not yet read."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.unread = bytearray()
        self.eof = False
        self.reset = False
        self.closed = False  # the client closed its end: the server's writes go nowhere
        self._waiter: asyncio.Future[None] | None = None

    def feed(self, data: bytes) -> None:
        if not self.closed:
            self.unread += data
            self._wake()

    def end(self, reset: bool = False) -> None:
        self.eof = True
        self.reset = self.reset or reset
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        while not self.unread and not self.eof:
            self._waiter = self.loop.create_future()
            await self._waiter


class MemoryTransport(asyncio.transports._FlowControlMixin):  # type: ignore[name-defined]
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

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.Protocol,
        *,
        peername: tuple[str, int] | None = None,
        sockname: Any = ("127.0.0.1", 80),
    ) -> None:
        extra = {
            "peername": peername or ("127.0.0.1", 50000 + next(MemoryTransport._ports) % 15000),
            "sockname": sockname,
            "socket": None,
        }
        super().__init__(extra, loop)
        self._protocol = protocol
        self.peer = _Peer(loop)
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
        self.peer.feed(bytes(data))
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(list_of_data))

    def get_write_buffer_size(self) -> int:
        return 0 if self.peer.closed else len(self.peer.unread)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if not self._eof_written:
            self._eof_written = True
            self.peer.end()

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
        if not self._closing:
            self._closing = True
            self._loop.call_soon(self._lose, None)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def _lose(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        self.peer.end(reset=self.aborted or exc is not None)
        self._protocol.connection_lost(exc)

    # -- the client's side -----------------------------------------------------------------------

    def _client_send(self, data: bytes | None) -> None:
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

    def _client_read(self) -> bytes:
        peer = self.peer
        data = bytes(peer.unread)
        peer.unread.clear()
        if data and not self._lost:
            self._maybe_resume_protocol()
        return data

    def _client_abort(self) -> None:
        self.peer.closed = True
        if not self._lost:
            self._closing = True
            reset = ConnectionResetError("the client reset the connection")
            self._loop.call_soon(self._lose, reset)


# -- client channels: memory and sockets --------------------------------------------------------


class _Channel(Protocol):
    eof: bool
    reset: bool

    async def send(self, data: bytes) -> None: ...
    async def recv(self) -> bytes: ...
    def write_eof(self) -> None: ...
    def close_nowait(self) -> None: ...
    async def close(self) -> None: ...
    def abort(self) -> None: ...


class _MemoryChannel:
    def __init__(self, transport: MemoryTransport) -> None:
        self.transport = transport
        self.peer = transport.peer
        self._eof_sent = False

    @property
    def eof(self) -> bool:
        return self.peer.eof and not self.peer.unread

    @property
    def reset(self) -> bool:
        return self.peer.reset

    async def send(self, data: bytes) -> None:
        if self._eof_sent or self.peer.closed:
            raise RuntimeError("the client already closed its side of the connection")
        if data:
            self.transport._client_send(data)

    async def recv(self) -> bytes:
        await self.peer.wait()
        return self.transport._client_read()

    def write_eof(self) -> None:
        if not self._eof_sent:
            self._eof_sent = True
            self.transport._client_send(None)

    def close_nowait(self) -> None:
        self.write_eof()
        self.peer.closed = True
        self.peer.unread.clear()

    async def close(self) -> None:
        self.close_nowait()

    def abort(self) -> None:
        self.transport._client_abort()


class _StreamChannel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.eof = False
        self.reset = False

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self) -> bytes:
        if self.eof:
            return b""
        try:
            data = await self.reader.read(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
            self.reset = True
        if not data:
            self.eof = True
        return data

    def write_eof(self) -> None:
        if self.writer.can_write_eof() and not self.writer.is_closing():
            self.writer.write_eof()

    def close_nowait(self) -> None:
        self.writer.close()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    def abort(self) -> None:
        self.writer.transport.abort()


# -- connections --------------------------------------------------------------------------------


class _Parser:
    """h11 as a client for one response, with the bytes it was fed (``Response.raw``)."""

    __slots__ = ("h11", "fed", "eof")

    def __init__(self, method: str, host: str, fake_request: bool) -> None:
        self.h11 = h11.Connection(h11.CLIENT)
        self.fed: list[bytes] = []
        self.eof = False
        if fake_request:
            # Parsing a response to a request sent as raw bytes: h11 needs to have "sent" one.
            self.h11.send(h11.Request(method=method, target="/", headers=[("Host", host)]))
            self.h11.send(h11.EndOfMessage())

    def raw(self) -> bytes:
        data = b"".join(self.fed)
        leftover, _ = self.h11.trailing_data
        return data[: len(data) - len(leftover)] if leftover else data


def _header_pairs(headers: HeaderList) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


class Connection:
    """One client connection to a :class:`LiveServer`, at the byte level.

    ``send`` raw bytes, read them back raw (``receive``, ``read_until``, ``read_to_eof``) or parsed
    as responses (``read_response``; h11 checks the framing as a strict client would). Responses
    must be read in order; every read fails with ``TimeoutError`` after ``timeout`` real seconds.
    """

    def __init__(
        self, channel: _Channel, *, host: str = "testserver", timeout: float | None = TIMEOUT
    ) -> None:
        self._channel = channel
        self._buffer = bytearray()
        self.host = host
        self.timeout = timeout

    # -- bytes -----------------------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        """Send raw bytes."""
        await _guard(self._channel.send(data), self.timeout, "sending")

    async def send_request(
        self,
        method: str = "GET",
        target: str = "/",
        headers: HeaderList = None,
        body: bytes = b"",
        version: str = "1.1",
    ) -> None:
        """Send a request built by :func:`build_request` (not validated: may be malformed)."""
        await self.send(build_request(method, target, headers, body, version))

    async def _fill(self) -> bool:
        """Read more into the buffer; False at EOF."""
        data = await self._channel.recv()
        self._buffer += data
        return bool(data)

    async def receive(self, timeout: float | None | bool = False) -> bytes:
        """The bytes available now, waiting for some if there are none; ``b""`` at EOF."""
        if not self._buffer:
            await _guard(self._fill(), self._timeout(timeout), "receiving")
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    async def read_until(self, needle: bytes, timeout: float | None | bool = False) -> bytes:
        """Everything up to and including ``needle``."""

        async def read() -> bytes:
            while needle not in self._buffer:
                if not await self._fill():
                    got = bytes(self._buffer)
                    raise ServerDisconnected(f"closed before {needle!r}; got {got!r}")
            end = self._buffer.index(needle) + len(needle)
            data = bytes(self._buffer[:end])
            del self._buffer[:end]
            return data

        return await _guard(read(), self._timeout(timeout), f"reading until {needle!r}")

    async def read_exactly(self, count: int, timeout: float | None | bool = False) -> bytes:
        async def read() -> bytes:
            while len(self._buffer) < count:
                if not await self._fill():
                    raise ServerDisconnected(f"closed after {len(self._buffer)} of {count} bytes")
            data = bytes(self._buffer[:count])
            del self._buffer[:count]
            return data

        return await _guard(read(), self._timeout(timeout), f"reading {count} bytes")

    async def read_to_eof(self, timeout: float | None | bool = False) -> bytes:
        """Everything until the server closes (or resets) the connection."""

        async def read() -> bytes:
            while await self._fill():
                pass
            data = bytes(self._buffer)
            self._buffer.clear()
            return data

        return await _guard(read(), self._timeout(timeout), "reading until the server closes")

    async def wait_closed(self, timeout: float | None | bool = False) -> bytes:
        """Until the server closes; returns what arrived before (usually nothing)."""
        return await self.read_to_eof(timeout)

    @property
    def closed(self) -> bool:
        """The server closed its side (EOF seen) and every byte before it was read."""
        return self._channel.eof and not self._buffer

    @property
    def reset(self) -> bool:
        """The connection was reset (aborted) rather than closed."""
        return self._channel.reset

    def write_eof(self) -> None:
        """Half-close: the server sees end of input; the response can still be read."""
        self._channel.write_eof()

    async def close(self) -> None:
        """Close the client's end, as a client that goes away does."""
        await self._channel.close()

    def abort(self) -> None:
        """Reset the connection (the server sees ``connection_lost`` with an error)."""
        self._channel.abort()

    def _timeout(self, timeout: float | None | bool) -> float | None:
        return self.timeout if timeout is False else timeout  # type: ignore[return-value]

    # -- responses -------------------------------------------------------------------------------

    async def read_response(
        self, method: str = "GET", timeout: float | None | bool = False
    ) -> Response:
        """Parse the next response on the connection; ``method`` is the request's (HEAD responses
        have no body)."""
        parser = _Parser(method, self.host, fake_request=True)
        stream = await self._head(parser, method, [], self._timeout(timeout))
        return await stream.read_response(self._timeout(timeout))

    async def read_responses(self, *methods: str) -> list[Response]:
        """One response per method, in order (pipelining)."""
        return [await self.read_response(method) for method in methods or ("GET",)]

    async def request(
        self,
        method: str = "GET",
        target: str = "/",
        *,
        headers: HeaderList = None,
        body: Body = None,
        timeout: float | None | bool = False,
    ) -> Response:
        """Send a request and read its whole response."""
        stream = await self.start(method, target, headers=headers, body=body, timeout=timeout)
        return await stream.read_response(self._timeout(timeout))

    async def start(
        self,
        method: str = "GET",
        target: str = "/",
        *,
        headers: HeaderList = None,
        body: Body = None,
        timeout: float | None | bool = False,
    ) -> StreamResponse:
        """Send a request and return once the response head arrived; the body is read from the
        :class:`StreamResponse` as it comes. With ``Expect: 100-continue`` the body is sent only
        after ``100 Continue`` (and not at all if the final response comes first)."""
        limit = self._timeout(timeout)
        pairs = _header_pairs(headers)
        names = {name.lower() for name, _ in pairs}
        if "host" not in names:
            pairs.insert(0, ("Host", self.host))
        if isinstance(body, str):
            body = body.encode("utf-8")
        if isinstance(body, (bytes, bytearray)):
            if (body or method in ("POST", "PUT", "PATCH")) and not names & {
                "content-length", "transfer-encoding"
            }:
                pairs.append(("Content-Length", str(len(body))))
        elif body is not None and not names & {"content-length", "transfer-encoding"}:
            pairs.append(("Transfer-Encoding", "chunked"))
        parser = _Parser(method, self.host, fake_request=False)
        client = parser.h11
        head = client.send(h11.Request(method=method, target=target, headers=pairs))
        await self.send(head or b"")
        informational: list[int] = []
        expect = any(n.lower() == "expect" and v.lower() == "100-continue" for n, v in pairs)
        if expect and client.our_state is h11.SEND_BODY:
            event = await _guard(self._next_event(parser), limit, "waiting for 100 Continue")
            if isinstance(event, h11.Response):
                # A final answer instead: the body is not sent, so the connection is not reused.
                return StreamResponse(self, parser, method, event, informational)
            if isinstance(event, h11.InformationalResponse):
                informational.append(event.status_code)
        if client.our_state is h11.SEND_BODY:
            await self._send_body(client, body)
        return await self._head(parser, method, informational, limit)

    async def _send_body(self, client: h11.Connection, body: Body) -> None:
        if isinstance(body, (bytes, bytearray)):
            chunks: Any = [bytes(body)] if body else []
        else:
            chunks = body or []
        if hasattr(chunks, "__aiter__"):
            async for chunk in chunks:
                await self._send_data(client, chunk)
        else:
            for chunk in chunks:
                await self._send_data(client, chunk)
        await self.send(client.send(h11.EndOfMessage()) or b"")

    async def _send_data(self, client: h11.Connection, chunk: bytes | str) -> None:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        if chunk:
            await self.send(client.send(h11.Data(data=chunk)) or b"")

    async def _head(
        self, parser: _Parser, method: str, informational: list[int], limit: float | None
    ) -> StreamResponse:
        async def head() -> StreamResponse:
            while True:
                event = await self._next_event(parser)
                if isinstance(event, h11.InformationalResponse):
                    informational.append(event.status_code)
                    continue
                if isinstance(event, h11.ConnectionClosed):
                    raise ServerDisconnected("the server closed the connection without responding")
                assert isinstance(event, h11.Response), event
                return StreamResponse(self, parser, method, event, informational)

        try:
            return await _guard(head(), limit, "waiting for the response head")
        except h11.RemoteProtocolError:
            if self._channel.eof:
                raise ServerDisconnected(
                    "the server closed the connection in the middle of a response head"
                ) from None
            raise

    async def _next_event(self, parser: _Parser) -> Any:
        while True:
            if self._buffer:
                data = bytes(self._buffer)
                self._buffer.clear()
                parser.fed.append(data)
                parser.h11.receive_data(data)
            event = parser.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self._channel.eof:
                if parser.eof:
                    raise ServerDisconnected("the server closed the connection")
                parser.eof = True
                parser.h11.receive_data(b"")
                continue
            await self._fill()


class StreamResponse:
    """A response whose head has arrived; its body is read as it comes.

    ``async for chunk in response`` yields the body as it arrives: for a chunked response, one
    item per transfer chunk as the server framed it (so a comet "waiting" line is its own item);
    otherwise whatever arrived. ``read()`` returns the rest; ``aclose()`` drops the connection if
    the body is not complete (the server sees the client go away).
    """

    def __init__(
        self,
        connection: Connection,
        parser: _Parser,
        method: str,
        event: h11.Response,
        informational: list[int],
    ) -> None:
        self.connection = connection
        self.method = method
        self.status: int = event.status_code
        self.reason = event.reason.decode("latin-1")
        self.headers = _headers_from(event.headers)
        self.http_version = event.http_version.decode("ascii")
        self.informational = informational
        self.complete = False  # the whole body arrived
        self.truncated = False  # the server closed before the end of the body
        self.chunks: list[bytes] = []
        self._parser = parser
        self._pending = bytearray()
        self._on_done: Callable[[StreamResponse], None] | None = None

    @property
    def done(self) -> bool:
        return self.complete or self.truncated

    @property
    def keep_alive(self) -> bool:
        """Whether the connection can carry another request."""
        client = self._parser.h11
        return self.complete and client.our_state is h11.DONE and client.their_state is h11.DONE

    @property
    def raw(self) -> bytes:
        """The bytes of this response read so far, head and framing included."""
        return self._parser.raw()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.next_chunk()
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def next_chunk(self, timeout: float | None | bool = False) -> bytes | None:
        """The next piece of the body, or None at its end."""
        if self.done:
            return None
        return await _guard(
            self._next_chunk(), self.connection._timeout(timeout), "waiting for the response body"
        )

    async def _next_chunk(self) -> bytes | None:
        conn = self.connection
        while True:
            try:
                event = await conn._next_event(self._parser)
            except (h11.RemoteProtocolError, ServerDisconnected):
                self.truncated = True
                data = bytes(self._pending)
                self._pending.clear()
                self._finish()
                return data or None
            if isinstance(event, h11.Data):
                self._pending += event.data
                if event.chunk_start or event.chunk_end:  # chunked: wait for the whole chunk
                    if not event.chunk_end:
                        continue
                    self.chunks.append(bytes(self._pending))
                data = bytes(self._pending)
                self._pending.clear()
                if data:
                    return data
            elif isinstance(event, h11.EndOfMessage):
                self.complete = True
                self._finish()
                return None
            elif isinstance(event, h11.ConnectionClosed):
                self.truncated = True
                self._finish()
                return None

    def _finish(self) -> None:
        if self.complete:
            leftover, _ = self._parser.h11.trailing_data
            self.connection._buffer[:0] = leftover
        callback, self._on_done = self._on_done, None
        if callback is not None:
            callback(self)

    async def read(self, timeout: float | None | bool = False) -> bytes:
        """The rest of the body."""

        async def rest() -> bytes:
            parts = []
            while True:
                chunk = await self._next_chunk() if not self.done else None
                if chunk is None:
                    return b"".join(parts)
                parts.append(chunk)

        return await _guard(rest(), self.connection._timeout(timeout), "reading the response body")

    async def read_response(self, timeout: float | None | bool = False) -> Response:
        """The rest of the body, then everything as a :class:`Response`."""
        body = await self.read(timeout)
        return Response(
            status=self.status,
            reason=self.reason,
            headers=self.headers,
            body=body,
            informational=list(self.informational),
            complete=self.complete,
            keep_alive=self.keep_alive,
            chunks=list(self.chunks),
            raw=self.raw,
            http_version=self.http_version,
        )

    async def aclose(self) -> None:
        """Done with this response: if its body did not end, close the connection (the client
        goes away, which is how the server learns of it)."""
        if not self.done:
            self.truncated = True
            self._on_done = None
            await self.connection.close()

    async def __aenter__(self) -> StreamResponse:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status} {self.reason}>"


# -- the client ---------------------------------------------------------------------------------


class Client:
    """A small HTTP/1.1 client for one :class:`LiveServer`.

    Requests reuse idle keep-alive connections; concurrent requests (a parked long-poll and the
    request that wakes it) each get their own. Subclass it to add helpers (the ``cogen_client_cls``
    fixture plugs a subclass into ``cogen_client``)::

        class ChatClient(Client):
            async def say(self, text):
                return await self.post("/say", form={"text": text})
    """

    __test__ = False  # not a test class, whatever the module importing it is called

    def __init__(
        self,
        server: LiveServer,
        *,
        headers: HeaderList = None,
        timeout: float | None = TIMEOUT,
    ) -> None:
        self.server = server
        self.headers = _header_pairs(headers)
        self.timeout = timeout
        self._idle: list[Connection] = []
        self._open: list[Connection] = []
        self.closed = False

    async def connect(self) -> Connection:
        """A new connection of its own (closed with the client)."""
        if self.closed:
            raise RuntimeError("the client is closed")
        conn = await self.server.connect(timeout=self.timeout)
        self._open.append(conn)
        return conn

    async def _acquire(self) -> tuple[Connection, bool]:
        """A connection for a request, and whether it served one before."""
        while self._idle:
            conn = self._idle.pop()
            if not conn._channel.eof and not conn._buffer:
                return conn, True
            await self._discard(conn)
        return await self.connect(), False

    def _release(self, stream: StreamResponse) -> None:
        conn = stream.connection
        if stream.keep_alive and not conn._channel.eof and not self.closed:
            self._idle.append(conn)
        else:
            if conn in self._open:
                self._open.remove(conn)
            conn._channel.close_nowait()

    async def _discard(self, conn: Connection) -> None:
        if conn in self._open:
            self._open.remove(conn)
        await conn.close()

    def _prepare(
        self,
        target: str,
        headers: HeaderList,
        params: Mapping[str, Any] | None,
        body: Body,
        json: Any,
        form: Mapping[str, Any] | None,
    ) -> tuple[str, list[tuple[str, str]], Body]:
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params, doseq=True)
        pairs = self.headers + _header_pairs(headers)
        if json is not None:
            body = jsonlib.dumps(json).encode("utf-8")
            pairs.append(("Content-Type", "application/json"))
        elif form is not None:
            body = urlencode(form, doseq=True).encode("ascii")
            pairs.append(("Content-Type", "application/x-www-form-urlencoded"))
        return target, pairs, body

    async def request(
        self,
        method: str,
        target: str = "/",
        *,
        headers: HeaderList = None,
        params: Mapping[str, Any] | None = None,
        body: Body = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        timeout: float | None | bool = False,
    ) -> Response:
        """Send a request and return its whole response. ``body`` may be bytes, str, or an
        (async) iterable of bytes, sent chunked, one chunk per item."""
        async with self.stream(
            method, target, headers=headers, params=params, body=body, json=json, form=form,
            timeout=timeout,
        ) as stream:
            return await stream.read_response(timeout)

    def stream(
        self,
        method: str,
        target: str = "/",
        *,
        headers: HeaderList = None,
        params: Mapping[str, Any] | None = None,
        body: Body = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        timeout: float | None | bool = False,
    ) -> _StreamContext:
        """``async with client.stream("GET", "/poll") as response:`` — the response head has
        arrived; iterate it for the body as it comes. Leaving the block before the end of the body
        closes the connection, so the server sees the client go away."""
        target, pairs, body = self._prepare(target, headers, params, body, json, form)
        return _StreamContext(self, method, target, pairs, body, timeout)

    async def pipeline(self, *requests: tuple[str, str] | bytes) -> list[Response]:
        """Send several requests at once on one new connection, then read the responses in
        order. Each request is ``(method, target)`` or raw bytes (a GET is assumed for those)."""
        conn = await self.connect()
        methods = []
        data = []
        for item in requests:
            if isinstance(item, (bytes, bytearray)):
                methods.append("GET")
                data.append(bytes(item))
            else:
                method, target = item
                methods.append(method)
                data.append(build_request(method, target, self.headers or None))
        await conn.send(b"".join(data))
        try:
            return await conn.read_responses(*methods)
        finally:
            await self._discard(conn)

    async def get(self, target: str = "/", **kwargs: Any) -> Response:
        return await self.request("GET", target, **kwargs)

    async def head(self, target: str = "/", **kwargs: Any) -> Response:
        return await self.request("HEAD", target, **kwargs)

    async def post(self, target: str = "/", **kwargs: Any) -> Response:
        return await self.request("POST", target, **kwargs)

    async def put(self, target: str = "/", **kwargs: Any) -> Response:
        return await self.request("PUT", target, **kwargs)

    async def patch(self, target: str = "/", **kwargs: Any) -> Response:
        return await self.request("PATCH", target, **kwargs)

    async def delete(self, target: str = "/", **kwargs: Any) -> Response:
        return await self.request("DELETE", target, **kwargs)

    async def options(self, target: str = "/", **kwargs: Any) -> Response:
        return await self.request("OPTIONS", target, **kwargs)

    async def close(self) -> None:
        """Close every connection (a request still in flight sees its connection go)."""
        self.closed = True
        self._idle.clear()
        conns, self._open = self._open, []
        for conn in reversed(conns):
            await conn.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class _StreamContext:
    def __init__(
        self,
        client: Client,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body,
        timeout: float | None | bool,
    ) -> None:
        self.client = client
        self.args = (method, target, headers, body, timeout)
        self.response: StreamResponse | None = None

    async def __aenter__(self) -> StreamResponse:
        method, target, headers, body, timeout = self.args
        client = self.client
        conn, reused = await client._acquire()
        try:
            stream = await conn.start(method, target, headers=headers, body=body, timeout=timeout)
        except ConnectionError:  # ServerDisconnected, or a reset while sending
            await client._discard(conn)
            if not reused or not isinstance(body, (bytes, bytearray, str, type(None))):
                raise
            # The server closed the idle connection as the request went out (its keep-alive
            # timeout): send it again on a new one, as HTTP clients do (RFC 9112 §9.3.1).
            conn = await client.connect()
            try:
                stream = await conn.start(
                    method, target, headers=headers, body=body, timeout=timeout
                )
            except BaseException:
                await client._discard(conn)
                raise
        except BaseException:
            await client._discard(conn)
            raise
        stream._on_done = client._release
        if stream.done:
            client._release(stream)
        self.response = stream
        return stream

    async def __aexit__(self, *exc: Any) -> None:
        stream = self.response
        if stream is not None and not stream.done:
            await stream.aclose()  # the client leaves mid-body: the server sees it go
            await self.client._discard(stream.connection)


# -- the server ---------------------------------------------------------------------------------


class LiveServer:
    """The real cogen_aio server, started in the running loop.

    ``transport`` is ``"tcp"`` (127.0.0.1, a free port), ``"unix"`` (a socket in a temporary
    directory) or ``"memory"`` (no socket: each :meth:`connect` wires a new protocol instance to a
    :class:`MemoryTransport`). Settings are :class:`~cogen_aio.config.Config`'s, except that
    ``timeout_graceful_shutdown`` defaults to 1 s: a test server has no clients worth 30 s.
    """

    __test__ = False

    def __init__(self, app: WSGIApp, *, transport: str = "tcp", **settings: Any) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
        settings.setdefault("timeout_graceful_shutdown", 1.0)
        if transport == "tcp":
            settings.setdefault("host", "127.0.0.1")
            settings.setdefault("port", 0)
        self.app = app
        self.transport = transport
        self._tmpdir: str | None = None
        if transport == "unix" and "uds" not in settings:
            self._tmpdir = tempfile.mkdtemp(prefix="cga-")  # short: socket paths are limited
            settings["uds"] = os.path.join(self._tmpdir, "server.sock")
        self.server = Server(app, **settings)
        self.started = False
        self.closed = False
        self._handed_out: list[_Channel] = []  # client ends, closed first by close()

    @property
    def config(self) -> Config:
        return self.server.config

    @property
    def state(self) -> ServerState:
        if self.server.state is None:
            raise RuntimeError("the server is not started")
        return self.server.state

    async def start(self) -> LiveServer:
        """Start serving; returns once connections are accepted."""
        if self.started:
            return self
        if self.transport == "memory":
            await self.server.start(listen=False)
        else:
            await self.server.start()
        self.started = True
        return self

    async def close(self, grace: float | None = None) -> None:
        """Close the client ends :meth:`connect` handed out (their requests see the client go),
        then shut down: stop accepting, let other requests in flight finish within ``grace``
        seconds (``timeout_graceful_shutdown`` by default), then cut what is left."""
        if self.closed or not self.started:
            self.closed = True
            self._cleanup()
            return
        self.closed = True
        channels, self._handed_out = self._handed_out, []
        for channel in reversed(channels):
            channel.close_nowait()
        try:
            if grace is None:
                await self.server.shutdown()
            else:
                await self.server.shutdown(timeout=grace)
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def __aenter__(self) -> LiveServer:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- where it is -----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        address = self.server.address if self.transport == "tcp" else None
        return address[0] if isinstance(address, tuple) else "testserver"

    @property
    def port(self) -> int | None:
        address = self.server.address if self.transport == "tcp" else None
        return address[1] if isinstance(address, tuple) else None

    @property
    def path(self) -> str | None:
        """The UNIX socket path (``transport="unix"``)."""
        return self.config.uds if self.transport == "unix" else None

    @property
    def host_header(self) -> str:
        return f"{self.host}:{self.port}" if self.transport == "tcp" else "testserver"

    @property
    def url(self) -> str:
        """The base URL: ``http://127.0.0.1:<port>``, or ``http://testserver`` without TCP."""
        return f"http://{self.host_header}"

    def make_url(self, path: str = "/") -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    # -- what is going on inside -----------------------------------------------------------------

    @property
    def connections(self) -> set[Any]:
        """The open connections (one protocol object each)."""
        return self.server.connections

    def parked_operations(self) -> list[Any]:
        """The operations requests are parked on right now."""
        return self.server.parked_operations()

    @property
    def requests(self) -> int:
        """Requests received so far."""
        return self.state.requests

    async def wait_parked(self, count: int = 1, timeout: float | None = TIMEOUT) -> list[Any]:
        """Until at least ``count`` requests are parked; returns their operations."""
        def parked() -> list[Any] | None:
            operations = self.parked_operations()
            return operations if len(operations) >= count else None

        return await wait_until(parked, timeout, f"waiting for {count} parked request(s)")

    async def wait_connections(self, count: int, timeout: float | None = TIMEOUT) -> None:
        """Until exactly ``count`` connections are open (0: every connection is gone)."""
        await wait_until(
            lambda: len(self.connections) == count,
            timeout,
            f"waiting for {count} open connection(s)",
        )

    async def wait_idle(self, timeout: float | None = TIMEOUT) -> None:
        """Until no connection is open."""
        await self.wait_connections(0, timeout)

    # -- connecting ------------------------------------------------------------------------------

    async def connect(self, *, timeout: float | None = TIMEOUT) -> Connection:
        """A new client connection, byte level."""
        if not self.started:
            await self.start()
        if self.closed:
            raise RuntimeError("the server is closed")
        if self.transport == "memory":
            from .protocol import HttpProtocol

            loop = asyncio.get_running_loop()
            protocol = HttpProtocol(self.state)
            transport = MemoryTransport(loop, protocol)
            protocol.connection_made(transport)
            channel: _Channel = _MemoryChannel(transport)
        else:
            if self.transport == "unix":
                opening = asyncio.open_unix_connection(self.path)
            else:
                opening = asyncio.open_connection(self.host, self.port)
            reader, writer = await _guard(opening, timeout, "connecting")
            channel = _StreamChannel(reader, writer)
        self._handed_out = [known for known in self._handed_out if not known.eof]
        self._handed_out.append(channel)
        return Connection(channel, host=self.host_header, timeout=timeout)

    def client(self, **kwargs: Any) -> Client:
        return Client(self, **kwargs)

    def httpx_client(self, **kwargs: Any) -> Any:
        """An ``httpx.AsyncClient`` whose relative URLs reach this server, on any transport."""
        import httpx

        if self.transport == "memory":
            kwargs.setdefault("transport", _httpx_memory_transport(self))
        elif self.transport == "unix":
            kwargs.setdefault("transport", httpx.AsyncHTTPTransport(uds=self.path))
        kwargs.setdefault("base_url", self.url)
        return httpx.AsyncClient(**kwargs)

    def __repr__(self) -> str:
        where = self.path if self.transport == "unix" else self.url
        return f"<LiveServer {self.transport} {where}>"


def _httpx_memory_transport(server: LiveServer) -> Any:
    """An httpx transport sending each request over a new in-memory connection (httpx is only
    imported here, when asked for)."""
    import httpx

    class MemoryHTTPTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            conn = await server.connect()
            body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
            headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.headers.raw]
            target = request.url.raw_path.decode("ascii")
            stream = await conn.start(request.method, target, headers=headers, body=body)

            class Body(httpx.AsyncByteStream):
                async def __aiter__(self) -> AsyncIterator[bytes]:
                    async for chunk in stream:
                        yield chunk

                async def aclose(self) -> None:
                    await conn.close()

            return httpx.Response(stream.status, headers=stream.headers.raw, stream=Body())

    return MemoryHTTPTransport()


# -- the synchronous bridge (WebTest) -----------------------------------------------------------


#: Keys of the caller's environ that win over what the server computes from the request line.
_CALLER_KEYS = ("SCRIPT_NAME", "PATH_INFO", "REMOTE_ADDR", "SERVER_NAME", "SERVER_PORT",
                "wsgi.url_scheme", "HTTPS")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding"})


class SyncApp:
    """A cogen app as a plain, synchronous WSGI app (see :func:`sync_app`)."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        clock: bool = False,
        timeout: float | None = TIMEOUT,
        raise_errors: bool = True,
        **settings: Any,
    ) -> None:
        self.app = app
        self.clock = clock
        self.timeout = timeout
        self.raise_errors = raise_errors
        settings.setdefault("access_log", False)
        settings.setdefault("server_header", False)
        settings.setdefault("date_header", False)
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: LiveServer | None = None
        self._calls: dict[str, dict[str, Any]] = {}

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The private loop (created on first use)."""
        if self._loop is None:
            self._loop = virtual_clock_loop() if self.clock else asyncio.new_event_loop()
        return self._loop

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run asyncio code on the private loop: signal parked requests, fill queues..."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()  # a coroutine that will never run
            raise RuntimeError(
                "sync_app() is for synchronous tests; in async tests use the cogen_client fixture"
            )
        return self.loop.run_until_complete(awaitable)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = _read_input(environ)
        call: dict[str, Any] = {"environ": environ, "error": None}
        response = self.run(_guard(self._exchange(environ, body, call), self.timeout, "sync_app"))
        if call["error"] is not None and self.raise_errors:
            raise call["error"]
        if not response.complete:
            raise ServerDisconnected(
                f"the server cut the response short after {len(response.body)} body bytes"
            )
        headers = [(n, v) for n, v in response.headers.raw if n.lower() not in _HOP_BY_HOP]
        start_response(f"{response.status} {response.reason}", headers)
        return [response.body]

    async def _exchange(
        self, environ: dict[str, Any], body: bytes, call: dict[str, Any]
    ) -> Response:
        if self._server is None:
            server = LiveServer(self._bridge, transport="memory", **self.settings)
            self._server = await server.start()
        conn = await self._server.connect(timeout=None)
        assert isinstance(conn._channel, _MemoryChannel)
        key = str(conn._channel.transport.get_extra_info("peername")[1])
        self._calls[key] = call
        try:
            method = environ["REQUEST_METHOD"]
            target = _request_target(environ)
            headers = _request_headers(environ, len(body))
            return await conn.request(method, target, headers=headers, body=body, timeout=None)
        finally:
            self._calls.pop(key, None)
            await conn.close()

    def _bridge(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Runs inside the server: give the app what the caller's environ had beyond HTTP."""
        call = self._calls.get(environ["REMOTE_PORT"])
        if call is None:
            return self.app(environ, start_response)
        caller = call["environ"]
        for key, value in caller.items():
            if key not in environ or key in _CALLER_KEYS:
                environ[key] = value
        try:
            result = self.app(environ, start_response)
        except Exception as exc:
            call["error"] = exc
            raise
        return _Recorded(result, call)

    def close(self) -> None:
        """Shut the private server and loop down."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            if self._server is not None:
                loop.run_until_complete(self._server.close())
            tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
            if tasks:  # what run() left behind, cancelled as asyncio.run does
                for task in tasks:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            self._server = None
            clock = VirtualClock.of(loop)
            if clock is not None:
                clock.uninstall()
            loop.close()

    def __enter__(self) -> SyncApp:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _Recorded:
    """Passes the app's iterable through unchanged (empty chunks included), noting an error."""

    def __init__(self, result: Any, call: dict[str, Any]) -> None:
        self._result = result
        self._iterator = iter(result)
        self._call = call

    def __iter__(self) -> _Recorded:
        return self

    def __next__(self) -> Any:
        try:
            return next(self._iterator)
        except StopIteration:
            raise
        except Exception as exc:
            self._call["error"] = exc
            raise

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            close()


def _read_input(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))  # type: ignore[no-any-return]
    if "HTTP_TRANSFER_ENCODING" in environ:
        return stream.read()  # type: ignore[no-any-return]
    return b""


def _request_target(environ: dict[str, Any]) -> str:
    from urllib.parse import quote

    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    target = quote(path.encode("latin-1"), safe="/;=,~!$&'()*+:@") or "/"
    query = environ.get("QUERY_STRING")
    return f"{target}?{query}" if query else target


def _request_headers(environ: dict[str, Any], length: int) -> list[tuple[str, str]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"):
            headers.append((key[5:].replace("_", "-").title(), value))
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", environ["CONTENT_TYPE"]))
    if "HTTP_HOST" not in environ:
        headers.append(("Host", environ.get("SERVER_NAME", "testserver")))
    if length:
        headers.append(("Content-Length", str(length)))
    return headers


def sync_app(app: WSGIApp, **options: Any) -> SyncApp:
    """A plain WSGI app that serves each request with ``app`` on a private event loop, awaiting its
    parked operations, so synchronous test tools work::

        with sync_app(app) as wsgi:
            TestApp(wsgi).get("/wait")

    Each request goes through the real protocol and runner over the in-memory transport; what the
    caller's environ holds beyond the request (``REMOTE_USER``, ``webtest.*``, ``paste.*``...) is
    copied into the app's environ. Options: ``clock=True`` runs the private loop on a
    :class:`VirtualClock` (``Sleep(30)`` returns at once); ``raise_errors`` (default True)
    re-raises the app's exceptions in the caller instead of answering 500; ``timeout`` (real
    seconds) fails a request that never ends; anything else is a server setting.
    """
    return SyncApp(app, **options)


# -- typed call shapes of the pytest fixtures ---------------------------------------------------


class CogenServerFactory(Protocol):
    """The ``cogen_server`` fixture: ``await cogen_server(app, transport=..., **settings)``."""

    async def __call__(
        self, app: WSGIApp | None = None, *, transport: str | None = None, **settings: Any
    ) -> LiveServer: ...


class CogenClientFactory(Protocol):
    """The ``cogen_client`` fixture: ``await cogen_client(app_or_server, server_kwargs=...)``."""

    async def __call__(
        self,
        app_or_server: WSGIApp | LiveServer | None = None,
        *,
        server_kwargs: Mapping[str, Any] | None = None,
        **client_kwargs: Any,
    ) -> Client: ...


class CogenHttpxFactory(Protocol):
    """The ``cogen_httpx`` fixture: an ``httpx.AsyncClient`` bound to a server."""

    async def __call__(
        self,
        app_or_server: WSGIApp | LiveServer | None = None,
        *,
        server_kwargs: Mapping[str, Any] | None = None,
        **httpx_kwargs: Any,
    ) -> Any: ...

