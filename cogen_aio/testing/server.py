"""The real cogen_aio server, started in the test's own event loop, and what tests see of it.

``await server.start()`` returns once it accepts connections: there is nothing to poll and no
thread. Its state (open connections, parked requests, requests received) is read from the
:class:`~cogen_aio.Server` itself, and every ``wait_*`` helper waits on it without holding a
virtual clock back.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from typing import Any, AsyncIterator

from ..config import Config
from ..protocol import HttpProtocol
from ..server import Server, ServerState
from ._typing import WSGIApp
from .client import Client
from .connection import Channel, Connection, StreamChannel
from .memory import MemoryTransport
from .waiting import TIMEOUT, guard, wait_until

TRANSPORTS = ("tcp", "unix", "memory")


class LiveServer:
    """The real cogen_aio server, started in the running loop.

    ``transport`` is ``"tcp"`` (127.0.0.1, a free port), ``"unix"`` (a socket in a temporary
    directory) or ``"memory"`` (no socket: each :meth:`connect` wires a new protocol instance to a
    :class:`~cogen_aio.testing.MemoryTransport`). Settings are :class:`~cogen_aio.config.Config`'s,
    except that ``timeout_graceful_shutdown`` defaults to 1 s: a test server has no clients worth
    30 s.
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
        self._handed_out: list[Channel] = []  # client ends, closed first by close()

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
        if not self.started:
            await self.server.start(listen=self.transport != "memory")
            self.started = True
        return self

    async def close(self, grace: float | None = None) -> None:
        """Close the client ends :meth:`connect` handed out (their requests see the client go),
        then shut down: stop accepting, let other requests in flight finish within ``grace``
        seconds (``timeout_graceful_shutdown`` by default), then cut what is left."""
        serving = self.started and not self.closed
        self.closed = True
        try:
            if serving:
                channels, self._handed_out = self._handed_out, []
                for channel in reversed(channels):
                    channel.close_nowait()
                await self.server.shutdown(False if grace is None else grace)
        finally:
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
        return self._tcp_address[0] if self._tcp_address else "testserver"

    @property
    def port(self) -> int | None:
        return self._tcp_address[1] if self._tcp_address else None

    @property
    def _tcp_address(self) -> tuple[str, int] | None:
        address = self.server.address if self.transport == "tcp" else None
        return address if isinstance(address, tuple) else None

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
        if self.closed:
            raise RuntimeError("the server is closed")
        await self.start()
        channel: Channel
        if self.transport == "memory":
            protocol = HttpProtocol(self.state)
            transport = MemoryTransport(asyncio.get_running_loop(), protocol)
            protocol.connection_made(transport)
            channel = transport.peer
        else:
            if self.transport == "unix":
                opening = asyncio.open_unix_connection(self.path)
            else:
                opening = asyncio.open_connection(self.host, self.port)
            channel = StreamChannel(*await guard(opening, timeout, "connecting"))
        self._handed_out = [known for known in self._handed_out if not known.eof]
        self._handed_out.append(channel)
        return Connection(channel, host=self.host_header, timeout=timeout)

    def client(self, **kwargs: Any) -> Client:
        return Client(self, **kwargs)

    def httpx_client(self, **kwargs: Any) -> Any:
        """An ``httpx.AsyncClient`` whose relative URLs reach this server, on any transport."""
        import httpx  # only when asked for: httpx is optional

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
    """An httpx transport sending each request over a new in-memory connection."""
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
