"""Responses as the kit's client reads them: :class:`StreamResponse` while the body arrives,
:class:`Response` once it is all there.

Responses are parsed by h11 as a client, which checks the framing (Content-Length, chunked,
close-delimited) the way a strict client would: a framing mistake by the server fails the test.
"""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterable, Iterator, Mapping

import h11

from ._typing import CallTimeout
from .waiting import guard

if TYPE_CHECKING:
    from .connection import Connection


class ServerDisconnected(ConnectionError):
    """The server closed the connection before a response began."""


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


class ResponseParser:
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
        parser: ResponseParser,
        method: str,
        event: h11.Response,
        informational: list[int],
    ) -> None:
        self.connection = connection
        self.method = method
        self.status: int = event.status_code
        self.reason = event.reason.decode("latin-1")
        self.headers = Headers((n.decode("latin-1"), v.decode("latin-1")) for n, v in event.headers)
        self.http_version = event.http_version.decode("ascii")
        self.informational = informational
        self.complete = False  # the whole body arrived
        self.truncated = False  # the server closed before the end of the body
        self.chunks: list[bytes] = []
        self._parser = parser
        self._pending = bytearray()
        #: Called once when the body ends (or the response is dropped): the client's connection
        #: pool takes the connection back here.
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

    async def next_chunk(self, timeout: CallTimeout = False) -> bytes | None:
        """The next piece of the body, or None at its end."""
        if self.done:
            return None
        limit = self.connection._timeout(timeout)
        return await guard(self._next_chunk(), limit, "waiting for the response body")

    async def _next_chunk(self) -> bytes | None:
        """The next non-empty piece of the body; None only once the response is done."""
        while True:
            try:
                event = await self.connection._next_event(self._parser)
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
        if self.complete:  # bytes past the end belong to the next response
            leftover, _ = self._parser.h11.trailing_data
            self.connection._buffer[:0] = leftover
        callback, self._on_done = self._on_done, None
        if callback is not None:
            callback(self)

    async def read(self, timeout: CallTimeout = False) -> bytes:
        """The rest of the body."""

        async def rest() -> bytes:
            parts = []
            while not self.done:
                parts.append(await self._next_chunk() or b"")
            return b"".join(parts)

        limit = self.connection._timeout(timeout)
        return await guard(rest(), limit, "reading the response body")

    async def read_response(self, timeout: CallTimeout = False) -> Response:
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
            await self.connection.close()
            self._finish()

    async def __aenter__(self) -> StreamResponse:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<StreamResponse {self.status} {self.reason}>"
