"""The server: listeners, the connection registry, signals and graceful shutdown.

Three entry points, from the most to the least managed:

- :func:`serve` (blocking): builds a loop (``loop`` setting), installs SIGTERM/SIGINT handlers and
  serves until one arrives; what ``python -m cogen_aio`` runs.
- :func:`serve_async`: serves inside a running loop until ``shutdown_trigger`` completes.
- :class:`Server` / :func:`start_server`: start in a running loop, get the bound addresses back
  (``port=0`` picks a free port), shut down when you decide.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
import stat
from typing import Any, Awaitable, Callable, Union

from . import ops
from .coalescing import WriteCoalescer
from .config import Config
from .loops import get_loop_factory, run as run_loop
from .protocol import HttpProtocol
from .response import DateCache
from .wsgi.environ import SERVER_SOFTWARE, base_environ

error_log = logging.getLogger("cogen_aio.error")

Address = Union[tuple[str, int], str]
WSGIApp = Callable[..., Any]


class ServerState:
    """What every connection of one server shares."""

    def __init__(self, app: WSGIApp, config: Config, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.config = config
        self.loop = loop
        self.access_log = config.access_log
        self.connections: set[HttpProtocol] = set()
        self.requests = 0
        self.date = DateCache()
        self.server_line = b"server: " + SERVER_SOFTWARE.encode("ascii") + b"\r\n"
        self.base_environ = base_environ(config.root_path)
        self.base_environ["cogen.sched"] = loop
        self.writes = WriteCoalescer(loop)
        self._idle: asyncio.Event | None = None

    def connection_closed(self) -> None:
        if self._idle is not None and not self.connections:
            self._idle.set()

    async def wait_idle(self) -> None:
        if not self.connections:
            return
        self._idle = asyncio.Event()
        if not self.connections:
            return
        await self._idle.wait()


class Server:
    """A cogen_aio server bound to one loop.

    >>> server = Server(app, port=0)
    >>> [(host, port)] = await server.start()
    >>> ...
    >>> await server.shutdown()
    """

    def __init__(self, app: WSGIApp, config: Config | None = None, **settings: Any) -> None:
        if config is None:
            config = Config(**settings)
        elif settings:
            config = config.replace(**settings)
        self.app = app
        self.config = config
        self.state: ServerState | None = None
        self.addresses: list[Address] = []
        self._listeners: list[asyncio.AbstractServer] = []
        self._uds_path: str | None = None
        self._closed: asyncio.Event | None = None
        self._shutdown_task: asyncio.Task[None] | None = None

    @property
    def address(self) -> Address:
        """The first bound address: ``(host, port)`` for TCP, the path for a UNIX socket."""
        return self.addresses[0]

    @property
    def connections(self) -> set[HttpProtocol]:
        return self.state.connections if self.state is not None else set()

    def parked_operations(self) -> list[Any]:
        """The operations requests are parked on right now."""
        return [
            conn.exchange.parked_operation
            for conn in self.connections
            if conn.exchange is not None and conn.exchange.parked_operation is not None
        ]

    async def start(self, listen: bool = True) -> list[Address]:
        """Bind and start accepting; returns the bound addresses.

        ``listen=False`` prepares everything but binds nothing: connections are then made by
        handing ``HttpProtocol(server.state)`` a transport yourself (the in-memory transport of
        :mod:`cogen_aio.testing` does), and :meth:`shutdown` works the same.
        """
        loop = asyncio.get_running_loop()
        config = self.config
        self.state = state = ServerState(self.app, config, loop)
        self._closed = asyncio.Event()
        ops.set_default_timeout(loop, config.op_timeout)
        if not listen:
            return self.addresses

        def factory() -> HttpProtocol:
            return HttpProtocol(state)

        if config.fd is not None:
            sock = socket.socket(fileno=config.fd)
            if sock.family == socket.AF_UNIX:
                listener = await loop.create_unix_server(factory, sock=sock, backlog=config.backlog)
            else:
                listener = await loop.create_server(factory, sock=sock, backlog=config.backlog)
        elif config.uds is not None:
            path = config.uds
            _remove_stale_socket(path, refuse_live=True)
            listener = await loop.create_unix_server(factory, path=path, backlog=config.backlog)
            self._uds_path = path
        else:
            listener = await loop.create_server(
                factory, config.host, config.port, backlog=config.backlog, reuse_address=True
            )
        self._listeners.append(listener)
        for sock in listener.sockets or ():
            name = sock.getsockname()
            self.addresses.append(name[:2] if isinstance(name, tuple) else name)
        for address in self.addresses:
            if isinstance(address, tuple):
                host, port = address
                shown = f"[{host}]" if ":" in host else host
                error_log.info("Serving on http://%s:%d", shown, port)
            else:
                error_log.info("Serving on unix:%s", address)
        return self.addresses

    async def shutdown(self, timeout: float | None | bool = False) -> None:
        """Stop accepting, close idle connections, let in-flight requests finish within the
        grace period (``timeout_graceful_shutdown`` unless given), then cancel what is left."""
        if self._shutdown_task is None:
            grace = self.config.timeout_graceful_shutdown if timeout is False else timeout
            self._shutdown_task = asyncio.ensure_future(self._shutdown(grace))  # type: ignore[arg-type]
        await asyncio.shield(self._shutdown_task)

    async def _shutdown(self, grace: float | None) -> None:
        state = self.state
        for listener in self._listeners:
            listener.close()
        if state is not None:
            for conn in list(state.connections):
                conn.shutdown()
            if self.config.wake_parked_on_shutdown:
                for conn in list(state.connections):
                    conn.wake_parked()
            try:
                if state.connections:
                    await asyncio.wait_for(state.wait_idle(), grace)
            except asyncio.TimeoutError:
                left = len(state.connections)
                error_log.warning("grace period over: cancelling %d connection(s)", left)
                for conn in list(state.connections):
                    conn.abort()
                await asyncio.sleep(0)
        for listener in self._listeners:
            try:
                await asyncio.wait_for(listener.wait_closed(), 1.0)
            except asyncio.TimeoutError:  # pragma: no cover - aborted transports still closing
                pass
        if self._uds_path is not None:
            _remove_stale_socket(self._uds_path)
        assert self._closed is not None
        self._closed.set()

    async def wait_closed(self) -> None:
        if self._closed is not None:
            await self._closed.wait()

    async def serve(self, shutdown_trigger: Callable[[], Awaitable[Any]] | None = None) -> None:
        """Start if needed, serve until ``shutdown_trigger()`` completes, then shut down."""
        if self.state is None:
            await self.start()
        if shutdown_trigger is None:
            await self.wait_closed()
            return
        trigger = asyncio.ensure_future(shutdown_trigger())
        closed = asyncio.ensure_future(self.wait_closed())
        try:
            await asyncio.wait({trigger, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            trigger.cancel()
            closed.cancel()
        await self.shutdown()


def _remove_stale_socket(path: str, refuse_live: bool = False) -> None:
    """Remove the socket file a server left at ``path``.

    With ``refuse_live``, a socket some process still accepts on is not stale: unlinking it
    would silently cut that server off from its clients, so ``OSError(EADDRINUSE)`` is raised,
    as binding a TCP port in use does.
    """
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return
    except FileNotFoundError:
        return
    if refuse_live:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.setblocking(False)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            pass  # nobody listens: stale
        except BlockingIOError:
            # Its accept queue is full, which only a live listener has.
            raise OSError(errno.EADDRINUSE, f"{path} is in use by a running server") from None
        else:
            raise OSError(errno.EADDRINUSE, f"{path} is in use by a running server")
        finally:
            probe.close()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


async def start_server(app: WSGIApp, **settings: Any) -> Server:
    """Start serving ``app`` in the running loop and return the :class:`Server`."""
    server = Server(app, **settings)
    await server.start()
    return server


async def serve_async(
    app: WSGIApp,
    *,
    shutdown_trigger: Callable[[], Awaitable[Any]] | None = None,
    config: Config | None = None,
    **settings: Any,
) -> None:
    """Serve ``app`` in the running loop until ``shutdown_trigger()`` completes."""
    await Server(app, config, **settings).serve(shutdown_trigger)


async def _serve_with_signals(app: WSGIApp, config: Config) -> None:
    loop = asyncio.get_running_loop()
    server = Server(app, config)
    stop = asyncio.Event()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            error_log.info("%s received: shutting down", signal.Signals(signum).name)
            stop.set()
        elif signum == signal.SIGINT:
            error_log.warning("second SIGINT: closing every connection now")
            for conn in list(server.connections):
                conn.abort()

    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread / Windows
            pass
    try:
        await server.serve(stop.wait)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def run(app: WSGIApp, config: Config) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, on the loop the ``loop`` setting names."""
    run_loop(_serve_with_signals(app, config), get_loop_factory(config.loop))


def serve(app: WSGIApp, **settings: Any) -> None:
    """Serve ``app`` with keyword settings (see :class:`~cogen_aio.config.Config`); blocks."""
    run(app, Config(**settings))
