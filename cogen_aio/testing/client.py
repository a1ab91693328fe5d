"""A small HTTP/1.1 client for one :class:`~cogen_aio.testing.LiveServer`, on any transport.

It keeps a pool of keep-alive connections (:class:`~cogen_aio.testing.Connection`) and hands
requests to them; how requests are written and responses read is the connection's business.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
from typing import TYPE_CHECKING, Any, AsyncIterator, Mapping
from urllib.parse import urlencode

from ._typing import Body, CallTimeout, HeaderList
from .connection import Connection, build_request, header_pairs
from .response import Response, StreamResponse
from .waiting import TIMEOUT

if TYPE_CHECKING:
    from .server import LiveServer


class Client:
    """A small HTTP/1.1 client for one :class:`~cogen_aio.testing.LiveServer`.

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
        self.headers = header_pairs(headers)  # sent with every request
        self.timeout = timeout
        self._idle: list[Connection] = []
        self._open: list[Connection] = []  # idle or not; closed with the client
        self.closed = False

    # -- requests --------------------------------------------------------------------------------

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
        timeout: CallTimeout = False,
    ) -> Response:
        """Send a request and return its whole response. ``body`` may be bytes, str, or an
        (async) iterable of bytes, sent chunked, one chunk per item."""
        async with self.stream(
            method, target, headers=headers, params=params, body=body, json=json, form=form,
            timeout=timeout,
        ) as stream:
            return await stream.read_response(timeout)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        target: str = "/",
        *,
        headers: HeaderList = None,
        params: Mapping[str, Any] | None = None,
        body: Body = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        timeout: CallTimeout = False,
    ) -> AsyncIterator[StreamResponse]:
        """``async with client.stream("GET", "/poll") as response:`` — the response head has
        arrived; iterate it for the body as it comes. Leaving the block before the end of the body
        closes the connection, so the server sees the client go away."""
        if params:
            target += ("&" if "?" in target else "?") + urlencode(params, doseq=True)
        pairs = self.headers + header_pairs(headers)
        if json is not None:
            body = jsonlib.dumps(json).encode("utf-8")
            pairs.append(("Content-Type", "application/json"))
        elif form is not None:
            body = urlencode(form, doseq=True).encode("ascii")
            pairs.append(("Content-Type", "application/x-www-form-urlencoded"))
        response = await self._start(method, target, pairs, body, timeout)
        try:
            yield response
        finally:
            await response.aclose()  # mid-body only: the client leaves, the server sees it go

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

    # -- connections -----------------------------------------------------------------------------

    async def connect(self) -> Connection:
        """A new connection of its own (closed with the client)."""
        if self.closed:
            raise RuntimeError("the client is closed")
        conn = await self.server.connect(timeout=self.timeout)
        self._open.append(conn)
        return conn

    async def _start(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: Body,
        timeout: CallTimeout,
    ) -> StreamResponse:
        """Send the request on an idle connection (or a new one); the response head arrived."""

        async def start(conn: Connection) -> StreamResponse:
            try:
                return await conn.start(method, target, headers=headers, body=body, timeout=timeout)
            except BaseException:
                await self._discard(conn)
                raise

        conn = await self._idle_connection()
        try:
            stream = await start(conn or await self.connect())
        except ConnectionError:  # ServerDisconnected, or a reset while sending
            if conn is None or not isinstance(body, (bytes, bytearray, str, type(None))):
                raise
            # The server closed the idle connection as the request went out (its keep-alive
            # timeout): send it again on a new one, as HTTP clients do (RFC 9112 §9.3.1). Only
            # a body that can be sent twice.
            stream = await start(await self.connect())
        stream._on_done = self._release
        if stream.done:
            self._release(stream)
        return stream

    async def _idle_connection(self) -> Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn._reusable():
                return conn
            await self._discard(conn)
        return None

    def _release(self, stream: StreamResponse) -> None:
        """The response ended: its connection goes back to the pool, or away."""
        conn = stream.connection
        if stream.keep_alive and conn._reusable() and not self.closed:
            self._idle.append(conn)
        else:
            if conn in self._open:
                self._open.remove(conn)
            conn._channel.close_nowait()

    async def _discard(self, conn: Connection) -> None:
        if conn in self._open:
            self._open.remove(conn)
        await conn.close()

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
