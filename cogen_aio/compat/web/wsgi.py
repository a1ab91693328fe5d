"""``cogen.web.wsgi``: the original's server classes on top of :class:`cogen_aio.Server`
(cogen-api.md §14.7–14.10).

The documented recipe for starting background coroutines with the server keeps working::

    runner = Runner("127.0.0.1", 8000, app, {"sched_default_timeout": "30"})
    runner.sched.add(startup_coro)
    runner.run()          # serves until SIGTERM/SIGINT (or runner.server.stop())

``Runner`` builds a :class:`~cogen.core.schedulers.Scheduler` and adds ``WSGIServer.serve``, a
coroutine that runs a cogen_aio server on the scheduler's event loop, so the app, the startup
coroutines and the requests share one loop, queues and signals, as they shared one scheduler.
"""

from __future__ import annotations

import asyncio
import logging
import signal as _signal
import threading
from typing import Any, Callable, Iterable, Mapping

from cogen_aio import ops
from cogen_aio.config import Config
from cogen_aio.coroutines import coroutine, local
from cogen_aio.paste import _patch_paste_local, config_from_options, with_server_name
from cogen_aio.server import Server
from cogen_aio.wsgi.filewrapper import FileWrapper

from ..core import proactors
from ..core.schedulers import Scheduler

__all__ = [
    "WSGIServer",
    "Runner",
    "server_factory",
    "WSGIFileWrapper",
    "WSGIPathInfoDispatcher",
    "asbool",
    "local",
]

error_log = logging.getLogger("cogen_aio.error")

WSGIApp = Callable[..., Any]


def asbool(obj: Any) -> bool:
    """The original's boolean parser for option strings."""
    if isinstance(obj, str):
        word = obj.strip().lower()
        if word in ("true", "yes", "on", "y", "t", "1"):
            return True
        if word in ("false", "no", "off", "n", "f", "0"):
            return False
        raise ValueError(f"String is not true/false: {obj!r}")
    return bool(obj)


class _FileWrapperType(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, FileWrapper)

    def __call__(cls, filelike: Any, blocksize: int = 8192) -> FileWrapper:  # type: ignore[override]
        return FileWrapper(filelike, blocksize)


class WSGIFileWrapper(metaclass=_FileWrapperType):
    """``WSGIFileWrapper(filelike, blocksize=8192)`` builds the server's own ``wsgi.file_wrapper``
    object, so a file returned this way is still sent with ``sendfile`` (and its chunk sizes are
    plain hex, not the original's ``0x``-prefixed ones)."""


class WSGIPathInfoDispatcher:
    """Dispatch on ``PATH_INFO`` prefixes (cogen-api.md §14.8).

    ``apps`` is a dict or a list of ``(prefix, app)``. Prefixes are tried in reverse lexicographic
    order (which puts ``/a/b`` before ``/a``); a trailing ``/`` is stripped, so ``/`` is a
    catch-all. The matched prefix moves from ``PATH_INFO`` to ``SCRIPT_NAME`` in a copy of the
    environ; no match is a ``404`` with an empty body.
    """

    def __init__(self, apps: Mapping[str, WSGIApp] | Iterable[tuple[str, WSGIApp]]) -> None:
        items = list(apps.items()) if isinstance(apps, Mapping) else list(apps)
        items.sort(key=lambda item: item[0])
        items.reverse()
        self.apps = [(prefix.rstrip("/"), app) for prefix, app in items]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ["PATH_INFO"] or "/"
        for prefix, app in self.apps:
            if path.startswith(prefix + "/") or path == prefix:
                environ = environ.copy()
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix):]
                return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
        return [b""]


_UNSET: Any = object()


class WSGIServer:
    """``WSGIServer(bind_addr, wsgi_app, scheduler, ...)``: add ``server.serve`` to the scheduler.

    ``bind_addr`` is ``(host, port)`` or a UNIX socket path; ``wsgi_app`` may be a dict or list of
    ``(prefix, app)`` (see :class:`WSGIPathInfoDispatcher`). The original's keyword arguments are
    mapped as for Paste options (``request_queue_size`` to ``backlog``, ``sockoper_timeout`` to the
    socket timeouts, ``sendfile_timeout`` to ``timeout_write``; ``sockaccept_greedy`` is ignored);
    left out, cogen_aio's defaults apply. ``config`` gives cogen_aio settings directly.
    ``environ['cogen.sched']`` is ``scheduler``.
    """

    def __init__(
        self,
        bind_addr: Any,
        wsgi_app: Any,
        scheduler: Any,
        server_name: str | None = None,
        request_queue_size: Any = _UNSET,
        sockoper_timeout: Any = _UNSET,
        sendfile_timeout: Any = _UNSET,
        sockaccept_greedy: bool = False,
        config: Config | None = None,
    ) -> None:
        if isinstance(wsgi_app, (dict, list, tuple)):
            wsgi_app = WSGIPathInfoDispatcher(wsgi_app)
        self.bind_addr = bind_addr
        self.wsgi_app = wsgi_app
        self.scheduler = scheduler
        self.server_name = server_name
        if config is None:
            options = {
                name: value
                for name, value in (
                    ("request_queue_size", request_queue_size),
                    ("sockoper_timeout", sockoper_timeout),
                    ("sendfile_timeout", sendfile_timeout),
                )
                if value is not _UNSET
            }
            if isinstance(bind_addr, str):
                options["uds"] = bind_addr
            else:
                options["host"], options["port"] = bind_addr
            config, _ = config_from_options(options, warn=False)
            default_timeout = getattr(scheduler, "default_timeout", None)
            if default_timeout and config.op_timeout is None:
                # The scheduler's default timeout applied to the operations requests parked.
                config = config.replace(op_timeout=default_timeout)
        self.config = config
        self.server: Server | None = None
        self.addresses: list[Any] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stop_requested = False
        self._signalled = False
        self._started = threading.Event()

    @coroutine
    def serve(self) -> Any:
        """The coroutine to add to the scheduler: serve until :meth:`stop` or SIGTERM/SIGINT."""
        yield ops.Call(self._serve)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        if self._stop_requested:
            self._stop.set()
        app = self.wsgi_app
        if self.server_name:
            app = with_server_name(app, self.server_name)
        server = self.server = Server(app, self.config)
        self.addresses = await server.start()
        assert server.state is not None
        # As in the original, requests get the scheduler (zero cost: copied with the rest).
        server.state.base_environ["cogen.sched"] = self.scheduler
        self._started.set()
        installed = []
        if threading.current_thread() is threading.main_thread():
            for signum in (_signal.SIGTERM, _signal.SIGINT):
                try:
                    loop.add_signal_handler(signum, self._on_signal, signum)
                    installed.append(signum)
                except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover
                    pass
        try:
            await self._stop.wait()
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)
            await server.shutdown()
        if self._signalled:
            # The scheduler may run other coroutines for ever (a monitor loop): a signal stops
            # them too, once the server has drained.
            shutdown = getattr(self.scheduler, "shutdown", None)
            if shutdown is not None:
                shutdown()

    def _on_signal(self, signum: int) -> None:
        error_log.info("%s received: shutting down", _signal.Signals(signum).name)
        self._signalled = True
        self._request_stop()

    def _request_stop(self) -> None:
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    def stop(self) -> None:
        """Stop serving (graceful shutdown); callable from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._stop_requested = True
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._request_stop()
        else:
            loop.call_soon_threadsafe(self._request_stop)

    def wait_started(self, timeout: float | None = None) -> bool:
        """From another thread: wait until the server listens (``addresses`` is then set)."""
        return self._started.wait(timeout)


class Runner:
    """``Runner(host, port, app, options)``: a scheduler with the server added to it.

    ``options`` are the Paste options (strings), read as by ``egg:cogen_aio#wsgi``: cogen_aio's
    setting names, and the original's with a warning for each (see ``cogen_aio.paste``).
    """

    def __init__(
        self,
        host: str,
        port: Any,
        app: WSGIApp,
        options: Mapping[str, Any],
        sched_class: Callable[..., Any] = Scheduler,
        server_class: Callable[..., Any] = WSGIServer,
    ) -> None:
        config, server_name = config_from_options(options, host, port)
        self.sched = sched_class(proactor=proactors.has_any(), default_timeout=config.op_timeout)
        self.server = server_class(
            (config.host, config.port), app, self.sched, server_name=server_name, config=config
        )
        self.sched.add(self.server.serve)

    def run(self) -> None:
        self.sched.run()


def server_factory(
    global_conf: Mapping[str, Any], host: str = "127.0.0.1", port: Any = 8000, **options: Any
) -> Callable[[WSGIApp], None]:
    """The original's Paste server factory: ``serve(app)`` builds a :class:`Runner` and runs it.

    Like the original, it gives Paste's thread-local class request-local slots (see
    ``cogen_aio.paste``). ``egg:cogen_aio#wsgi`` serves the same way without a Scheduler.
    """
    # Fail now on a bad value, as the file loads; the Runner reads them again and warns.
    config_from_options(options, host, port, warn=False)

    def serve(app: WSGIApp) -> None:
        _patch_paste_local()
        Runner(host, port, app, options).run()

    return serve
