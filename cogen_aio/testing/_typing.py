"""The shapes the kit shares: what it accepts (apps, headers, bodies), and the call shapes of the
pytest fixtures for annotating tests (``cogen_server: CogenServerFactory``)."""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterable,
    Callable,
    Iterable,
    Mapping,
    Protocol,
    Sequence,
    Union,
)

if TYPE_CHECKING:
    from .client import Client
    from .server import LiveServer

WSGIApp = Callable[..., Any]
#: Request headers: a mapping or (name, value) pairs, sent in the order given.
HeaderList = Union[Mapping[str, str], Sequence[tuple[str, str]], None]
#: A request body: bytes or str (sent with Content-Length), or an (async) iterable of bytes (sent
#: chunked, one chunk per item).
Body = Union[bytes, str, Iterable[bytes], AsyncIterable[bytes], None]
#: A per-call ``timeout``: real seconds, None for no limit, False (the default) for the
#: connection's or client's own.
CallTimeout = Union[float, None, bool]


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
