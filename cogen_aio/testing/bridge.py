"""A cogen app as a plain, synchronous WSGI app, for synchronous test tools (WebTest).

Each call runs one request through the real server, over the in-memory transport, on a private
event loop that runs only while the request is served.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterator, TypeVar
from urllib.parse import quote

from ._typing import WSGIApp
from .clock import VirtualClock, virtual_clock_loop
from .memory import MemoryChannel
from .response import Response, ServerDisconnected
from .server import LiveServer
from .waiting import TIMEOUT, guard

T = TypeVar("T")

#: Keys of the caller's environ that win over what the server computes from the request line.
_CALLER_KEYS = ("SCRIPT_NAME", "PATH_INFO", "REMOTE_ADDR", "SERVER_NAME", "SERVER_PORT",
                "wsgi.url_scheme", "HTTPS")
#: Hop-by-hop fields: a WSGI app must not return them (PEP 3333), the caller frames the body.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding"})


def sync_app(app: WSGIApp, **options: Any) -> SyncApp:
    """A plain WSGI app that serves each request with ``app`` on a private event loop, awaiting its
    parked operations, so synchronous test tools work::

        with sync_app(app) as wsgi:
            TestApp(wsgi).get("/wait")

    Each request goes through the real protocol and runner over the in-memory transport; what the
    caller's environ holds beyond the request (``REMOTE_USER``, ``webtest.*``, ``paste.*``...) is
    copied into the app's environ. Options: ``clock=True`` runs the private loop on a
    :class:`~cogen_aio.testing.VirtualClock` (``Sleep(30)`` returns at once); ``raise_errors``
    (default True) re-raises the app's exceptions in the caller instead of answering 500;
    ``timeout`` (real seconds) fails a request that never ends; anything else is a server setting.
    """
    return SyncApp(app, **options)


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
        # The caller's tool frames the response itself: no log lines, no headers of our own.
        settings.setdefault("access_log", False)
        settings.setdefault("server_header", False)
        settings.setdefault("date_header", False)
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: LiveServer | None = None
        self._calls: dict[str, _Call] = {}  # by the connection's REMOTE_PORT

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
        call = _Call(environ)
        body = _read_input(environ)
        response = self.run(guard(self._exchange(call, body), self.timeout, "sync_app"))
        if call.error is not None and self.raise_errors:
            raise call.error
        if not response.complete:
            raise ServerDisconnected(
                f"the server cut the response short after {len(response.body)} body bytes"
            )
        headers = [(n, v) for n, v in response.headers.raw if n.lower() not in _HOP_BY_HOP]
        start_response(f"{response.status} {response.reason}", headers)
        return [response.body]

    async def _exchange(self, call: _Call, body: bytes) -> Response:
        if self._server is None:
            server = LiveServer(self._bridge, transport="memory", **self.settings)
            self._server = await server.start()
        conn = await self._server.connect(timeout=None)
        # The app's environ names the connection by its REMOTE_PORT: that is how _bridge finds
        # the call it serves.
        channel = conn._channel
        assert isinstance(channel, MemoryChannel)
        key = str(channel.transport.get_extra_info("peername")[1])
        self._calls[key] = call
        environ = call.environ
        try:
            return await conn.request(
                environ["REQUEST_METHOD"],
                _request_target(environ),
                headers=_request_headers(environ, len(body)),
                body=body,
                timeout=None,
            )
        finally:
            self._calls.pop(key, None)
            await conn.close()

    def _bridge(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Runs inside the server: give the app what the caller's environ had beyond HTTP."""
        call = self._calls.get(environ["REMOTE_PORT"])
        if call is None:
            return self.app(environ, start_response)
        for key, value in call.environ.items():
            if key not in environ or key in _CALLER_KEYS:
                environ[key] = value
        try:
            result = self.app(environ, start_response)
        except Exception as exc:
            call.error = exc
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


class _Call:
    """One call of the synchronous app: the caller's environ, and the app's error if it raised."""

    __slots__ = ("environ", "error")

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.error: Exception | None = None


class _Recorded:
    """Passes the app's iterable through unchanged (empty chunks included), noting an error."""

    def __init__(self, result: Any, call: _Call) -> None:
        self._result = result
        self._iterator: Iterator[Any] = iter(result)
        self._call = call

    def __iter__(self) -> _Recorded:
        return self

    def __next__(self) -> Any:
        try:
            return next(self._iterator)
        except StopIteration:
            raise
        except Exception as exc:
            self._call.error = exc
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
