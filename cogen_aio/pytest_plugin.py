"""pytest fixtures that run the real cogen_aio server in the test's own event loop.

pytest loads this module in every project where cogen_aio is installed (the ``pytest11`` entry
point), so it only defines fixtures, a marker and an ini option: nothing heavy is imported until a
fixture runs, no default changes, and without pytest-asyncio the fixtures fail with a message
saying so instead of the whole run failing. Disable it with ``-p no:cogen_aio``.

Fixtures (factories; everything they create is closed in reverse order when the test ends, pass
or fail):

- ``cogen_server``: ``await cogen_server(app, transport="tcp"|"unix"|"memory", **settings)``
  returns a started :class:`~cogen_aio.testing.LiveServer`;
- ``cogen_client``: ``await cogen_client(app_or_server, server_kwargs=None, **client_kwargs)``
  returns a :class:`~cogen_aio.testing.Client` (of the class ``cogen_client_cls`` gives);
- ``cogen_httpx``: the same, returning an ``httpx.AsyncClient`` (needs httpx);
- ``cogen_clock``: the :class:`~cogen_aio.testing.VirtualClock` of the test's loop.

The marker ``@pytest.mark.cogen(transport=..., clock=..., **settings)`` sets the defaults of one
test, class or module; ``clock="virtual"`` (time jumps when the loop is idle) or ``"manual"``
(time moves only by ``cogen_clock.advance``) puts the test on a virtual clock.
The ini option ``cogen_aio_loops = asyncio uvloop`` runs every async test once per loop named
(pytest-asyncio >= 1.4; ``virtual`` is a loop with a virtual clock).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator

import pytest

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised by a pytester run without the module
    pytest_asyncio = None

if TYPE_CHECKING:
    from .testing import Client, VirtualClock

MISSING = "cogen_aio's fixtures need pytest-asyncio: pip install 'pytest-asyncio>=1.0'"
MARKER = (
    "cogen(transport=None, clock=None, **settings): defaults for this test's cogen_server and "
    "cogen_client: transport 'tcp', 'unix' or 'memory', server settings, and clock 'virtual' or "
    "'manual' to run on a virtual clock (in-memory transport)"
)
CLOCKS = ("real", "virtual", "manual")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "cogen_aio_loops",
        "run every async test once per event loop named here: asyncio, uvloop, virtual "
        "(needs pytest-asyncio >= 1.4; empty: pytest-asyncio's default)",
        type="args",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    names = config.getini("cogen_aio_loops")
    if names:
        if not hasattr(config.hook, "pytest_asyncio_loop_factories"):
            raise pytest.UsageError("cogen_aio_loops needs pytest-asyncio >= 1.4")
        config.pluginmanager.register(_LoopFactories(names), "cogen_aio-loops")


class _LoopFactories:
    """Implements pytest-asyncio's loop factory hook, only when ``cogen_aio_loops`` asks."""

    def __init__(self, names: list[str]) -> None:
        self.factories: dict[str, Callable[[], Any]] = {}
        self.missing: list[str] = []
        for name in names:
            if name == "asyncio":
                import asyncio

                self.factories[name] = asyncio.SelectorEventLoop
            elif name == "uvloop":
                try:
                    import uvloop
                except ImportError:
                    self.missing.append(name)
                else:
                    self.factories[name] = uvloop.new_event_loop
            elif name == "virtual":
                from .testing import virtual_clock_loop

                self.factories[name] = virtual_clock_loop
            else:
                raise pytest.UsageError(
                    f"cogen_aio_loops: unknown loop {name!r} (asyncio, uvloop or virtual)"
                )
        if not self.factories:
            raise pytest.UsageError(f"cogen_aio_loops: none of {names} is installed")

    def pytest_asyncio_loop_factories(self, config: Any, item: Any) -> dict[str, Any]:
        return self.factories

    def pytest_report_header(self, config: pytest.Config) -> str:
        line = "cogen_aio loops: " + " ".join(self.factories)
        if self.missing:
            line += f" ({', '.join(self.missing)} not installed)"
        return line


def _marker_options(node: pytest.Item) -> dict[str, Any]:
    """The ``cogen`` markers' keyword arguments; the closest to the test wins."""
    options: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers("cogen"))):
        if marker.args:
            pytest.fail(f"{node.nodeid}: mark.cogen takes keyword arguments only", pytrace=False)
        options.update(marker.kwargs)
    clock = options.get("clock")
    if clock is not None and clock not in CLOCKS:
        pytest.fail(f"{node.nodeid}: mark.cogen clock must be one of {CLOCKS}", pytrace=False)
    return options


@contextlib.contextmanager
def _clock_on_running_loop(auto: bool) -> Iterator[VirtualClock]:
    from .testing import VirtualClock, VirtualClockUnavailable

    clock = VirtualClock.of()
    if clock is not None:  # the loop was made with one (cogen_aio_loops = virtual)
        saved, clock.auto = clock.auto, auto
        try:
            yield clock
        finally:
            clock.auto = saved
        return
    try:
        clock = VirtualClock.install(auto=auto)
    except VirtualClockUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield clock
    finally:
        clock.uninstall()


def _same_loop(fixture_loop: Any, name: str) -> None:
    import asyncio

    if asyncio.get_running_loop() is not fixture_loop:
        pytest.fail(
            f"{name} was set up in another event loop than this test runs in: a test with a wider "
            "loop_scope needs asyncio_default_fixture_loop_scope to match, or a LiveServer in a "
            "fixture of that scope (see docs/testing.md, 'One server for a module')",
            pytrace=False,
        )


def _app_fixture(request: pytest.FixtureRequest) -> Any:
    try:
        return request.getfixturevalue("cogen_app")
    except pytest.FixtureLookupError:
        raise TypeError("pass an app, or define a cogen_app fixture") from None
    except RuntimeError as exc:
        raise TypeError(f"cogen_app must be a plain (not async) fixture: {exc}") from None


@pytest.fixture
def cogen_client_cls() -> type[Client]:
    """The class ``cogen_client`` builds; override it to add helper methods."""
    from .testing import Client

    return Client


if pytest_asyncio is None:  # pragma: no cover - exercised by a pytester run without the module

    @pytest.fixture
    def cogen_server() -> Any:
        pytest.fail(MISSING, pytrace=False)

    @pytest.fixture
    def cogen_client() -> Any:
        pytest.fail(MISSING, pytrace=False)

    @pytest.fixture
    def cogen_httpx() -> Any:
        pytest.fail(MISSING, pytrace=False)

    @pytest.fixture
    def cogen_clock() -> Any:
        pytest.fail(MISSING, pytrace=False)

else:

    @pytest.fixture
    def _cogen_asyncio_active(request: pytest.FixtureRequest) -> None:
        # Importable is not enough: ``-p no:asyncio`` leaves the async fixtures unhandled.
        if not request.config.pluginmanager.hasplugin("asyncio"):
            pytest.fail(MISSING, pytrace=False)

    @pytest_asyncio.fixture
    async def _cogen_marked_clock(
        request: pytest.FixtureRequest, _cogen_asyncio_active: None
    ) -> AsyncIterator[Any]:
        clock = _marker_options(request.node).get("clock")
        if clock in (None, "real"):
            yield None
            return
        with _clock_on_running_loop(auto=clock == "virtual") as installed:
            yield installed

    @pytest_asyncio.fixture
    async def _cogen_stack(_cogen_marked_clock: Any) -> AsyncIterator[contextlib.AsyncExitStack]:
        # One stack for servers and clients alike: closed last-in first-out, every callback run
        # even when one fails; after it the clock (if any) goes.
        async with contextlib.AsyncExitStack() as stack:
            yield stack

    @pytest_asyncio.fixture
    async def cogen_clock(_cogen_marked_clock: Any) -> AsyncIterator[VirtualClock]:
        """The test loop's virtual clock: ``await cogen_clock.advance(30)``. Installed for the
        test when the marker did not ask for one (time then jumps whenever the loop is idle)."""
        if _cogen_marked_clock is not None:
            yield _cogen_marked_clock
            return
        with _clock_on_running_loop(auto=True) as clock:
            yield clock

    @pytest_asyncio.fixture
    async def cogen_server(
        request: pytest.FixtureRequest, _cogen_stack: contextlib.AsyncExitStack
    ) -> AsyncIterator[Any]:
        """``server = await cogen_server(app, transport="tcp", **settings)``: a started
        :class:`~cogen_aio.testing.LiveServer`, closed when the test ends."""
        import asyncio

        from .testing import LiveServer, VirtualClock

        defaults = _marker_options(request.node)
        defaults.pop("clock", None)
        loop = asyncio.get_running_loop()

        async def start(app: Any = None, *, transport: str | None = None, **settings: Any) -> Any:
            _same_loop(loop, "cogen_server")
            if app is None:
                app = _app_fixture(request)
            merged = {**defaults, **settings}
            transport = transport or merged.pop("transport", None)
            merged.pop("transport", None)
            virtual = VirtualClock.of() is not None
            if transport is None:
                transport = "memory" if virtual else "tcp"
            elif virtual and transport != "memory":
                pytest.fail(
                    f"transport={transport!r} under a virtual clock: real sockets make virtual "
                    "time unsound; use transport='memory'",
                    pytrace=False,
                )
            server = LiveServer(app, transport=transport, **merged)
            _cogen_stack.push_async_callback(server.close)
            return await server.start()

        yield start

    async def _server_for(cogen_server: Any, app_or_server: Any, server_kwargs: Any) -> Any:
        from .testing import LiveServer

        if isinstance(app_or_server, LiveServer):
            if server_kwargs:
                raise TypeError("server_kwargs is for an app, not an already started server")
            return app_or_server
        return await cogen_server(app_or_server, **(server_kwargs or {}))

    @pytest_asyncio.fixture
    async def cogen_client(
        cogen_server: Any, cogen_client_cls: Any, _cogen_stack: contextlib.AsyncExitStack
    ) -> AsyncIterator[Any]:
        """``client = await cogen_client(app_or_server, server_kwargs=None, **client_kwargs)``:
        a :class:`~cogen_aio.testing.Client`; given an app (or nothing, with a ``cogen_app``
        fixture), it starts the server first."""

        async def connect(
            app_or_server: Any = None, *, server_kwargs: Any = None, **client_kwargs: Any
        ) -> Any:
            server = await _server_for(cogen_server, app_or_server, server_kwargs)
            client = cogen_client_cls(server, **client_kwargs)
            _cogen_stack.push_async_callback(client.close)
            return client

        yield connect

    @pytest_asyncio.fixture
    async def cogen_httpx(
        cogen_server: Any, _cogen_stack: contextlib.AsyncExitStack
    ) -> AsyncIterator[Any]:
        """``client = await cogen_httpx(app_or_server, server_kwargs=None, **httpx_kwargs)``: an
        ``httpx.AsyncClient`` whose relative URLs reach the server (any transport)."""

        async def connect(
            app_or_server: Any = None, *, server_kwargs: Any = None, **httpx_kwargs: Any
        ) -> Any:
            server = await _server_for(cogen_server, app_or_server, server_kwargs)
            client = server.httpx_client(**httpx_kwargs)
            _cogen_stack.push_async_callback(client.aclose)
            return client

        yield connect
