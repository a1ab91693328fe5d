"""Fixtures for the functional tests: a real server in the test's own loop, real sockets.

Every async test here runs on the standard asyncio loop and on uvloop (when it is installed),
through pytest-asyncio's ``pytest_asyncio_loop_factories`` hook; a test that only makes sense once
narrows it with ``@pytest.mark.asyncio(loop_factories=["asyncio"])``.

A test that starts a server through ``serve`` also runs once per request parser (the
``http_parser`` fixture, the ``http`` setting). The loop and the parser are independent of each
other, so not every pair is run: h11 on every loop, httptools on one, uvloop where the test runs
on it (``pip install cogen_aio[fast]`` installs the two together), so the suite grows by half,
not twice. The pairs left out are reported as deselected.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterator

import httpx
import pytest
import pytest_asyncio

import cogen_aio

from .wire import HANG

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a test dependency where it builds
    uvloop = None

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.SelectorEventLoop,
}
if uvloop is not None:
    LOOP_FACTORIES["uvloop"] = uvloop.new_event_loop


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Any]:
    return LOOP_FACTORIES


def _variant(item: pytest.Item) -> tuple[str | None, str | None, Any]:
    """The parser and loop an item runs with, and what identifies it apart from the loop."""
    callspec = getattr(item, "callspec", None)
    params = dict(callspec.params) if callspec is not None else {}
    factory = params.pop("_asyncio_loop_factory", None)
    loop = next((name for name, f in LOOP_FACTORIES.items() if f is factory), None)
    key = (item.nodeid.partition("[")[0], tuple(sorted((k, repr(v)) for k, v in params.items())))
    return params.get("http_parser"), loop, key


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop httptools on the asyncio loop where the same test also runs httptools on uvloop."""
    on_uvloop = set()
    for item in items:
        parser, loop, key = _variant(item)
        if parser == "httptools" and loop == "uvloop":
            on_uvloop.add(key)
    if not on_uvloop:
        return
    keep, drop = [], []
    for item in items:
        parser, loop, key = _variant(item)
        redundant = parser == "httptools" and loop == "asyncio" and key in on_uvloop
        (drop if redundant else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass
class Running:
    """A started server and how to reach it."""

    server: cogen_aio.Server
    address: Any  # (host, port) or a UNIX socket path

    @property
    def is_unix(self) -> bool:
        return isinstance(self.address, str)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.is_unix:
            coro = asyncio.open_unix_connection(self.address)
        else:
            coro = asyncio.open_connection(*self.address)
        return await asyncio.wait_for(coro, HANG)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An httpx client whose relative URLs reach this server."""
        if self.is_unix:
            transport = httpx.AsyncHTTPTransport(uds=self.address)
            return httpx.AsyncClient(transport=transport, base_url="http://test", **kwargs)
        host, port = self.address
        return httpx.AsyncClient(base_url=f"http://{host}:{port}", **kwargs)

    @property
    def connections(self) -> set[Any]:
        return self.server.connections


Serve = Callable[..., Awaitable[Running]]


@pytest.fixture
def short_tmp() -> Iterator[str]:
    """A short temporary directory: UNIX socket paths are limited to about 100 bytes."""
    path = tempfile.mkdtemp(prefix="cga-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest_asyncio.fixture
async def serve(short_tmp: str, http_parser: str) -> Any:
    """``await serve(app, family="tcp"|"unix", **settings)`` starts a server in the test's loop,
    with the request parser under test unless ``http`` is given.

    Servers are shut down in reverse order of start when the test ends, pass or fail.
    """
    started: list[cogen_aio.Server] = []
    count = 0

    async def start(app: Any, *, family: str = "tcp", **settings: Any) -> Running:
        nonlocal count
        if family == "unix":
            count += 1
            settings.setdefault("uds", os.path.join(short_tmp, f"s{count}.sock"))
        elif family != "tcp":
            raise ValueError(family)
        settings.setdefault("port", 0)
        settings.setdefault("http", http_parser)
        server = cogen_aio.Server(app, **settings)
        started.append(server)
        addresses = await server.start()
        return Running(server, addresses[0])

    yield start
    for server in reversed(started):
        await asyncio.wait_for(server.shutdown(timeout=1.0), HANG)


@pytest.fixture(params=["tcp", "unix"])
def family(request: pytest.FixtureRequest) -> str:
    return request.param


class Logs:
    """Records of ``cogen_aio.error`` and ``cogen_aio.access``, whatever their propagation."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []

    def messages(self, logger: str = "cogen_aio.error", level: int = 0) -> list[str]:
        return [
            record.getMessage()
            for record in self.records
            if record.name == logger and record.levelno >= level
        ]


@pytest.fixture
def logs() -> Iterator[Logs]:
    found = Logs()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.records.append(record)

    handler = Handler(logging.DEBUG)
    saved = []
    for name in ("cogen_aio.error", "cogen_aio.access"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    yield found
    for logger, level in saved:
        logger.removeHandler(handler)
        logger.setLevel(level)


class Recorder:
    """A plain WSGI app that records what it saw (environ strings and the body it read)."""

    def __init__(
        self,
        body: bytes = b"ok",
        status: str = "200 OK",
        headers: list[tuple[str, str]] | None = None,
        read_body: bool = True,
    ) -> None:
        self.body = body
        self.status = status
        self.headers = headers if headers is not None else [("Content-Type", "text/plain")]
        self.read_body = read_body
        self.calls: list[dict[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen = {
            key: value
            for key, value in environ.items()
            if isinstance(value, (str, bool, int, tuple))
        }
        if self.read_body:
            seen["body"] = environ["wsgi.input"].read()
        self.calls.append(seen)
        start_response(self.status, list(self.headers))
        return [self.body]

    @property
    def called(self) -> bool:
        return bool(self.calls)

    @property
    def last(self) -> dict[str, Any]:
        return self.calls[-1]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
