"""The legacy ``cogen`` package: old import paths, 0.1.x names, the server classes of
``cogen.web.wsgi`` (cogen-api.md §1, §5, §13, §14.7–14.10, §16)."""

from __future__ import annotations

import asyncio
import importlib
import io
import logging
import os
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest

import cogen_aio
import cogen_aio.compat
from cogen_aio import parking
from cogen_aio.compat import core as compat_core

HANG = 10.0


@pytest.fixture(autouse=True)
def legacy() -> Iterator[None]:
    was = cogen_aio.compat.installed()
    assert cogen_aio.compat.install() is True
    yield
    if not was:
        cogen_aio.compat.uninstall()


# -- import paths ---------------------------------------------------------------------------------


def test_old_import_paths_are_the_compat_modules() -> None:
    from cogen.core import coroutines, events, pipe, proactors, pubsub, queue, schedulers, sockets, util

    import cogen

    assert cogen is cogen_aio.compat
    for module in (events, queue, pubsub, coroutines, sockets, schedulers, util, pipe, proactors):
        short = module.__name__.rsplit(".", 1)[1]
        assert module is importlib.import_module(f"cogen.core.{short}")
        assert module is sys.modules[f"cogen.core.{short}"]
        assert module is importlib.import_module(f"cogen_aio.compat.core.{short}")
        # The module keeps its own identity for relative imports and reloads.
        assert module.__spec__.name == f"cogen_aio.compat.core.{short}"


def test_old_names_are_cogen_aios_objects() -> None:
    from cogen.core.coroutines import coro, coroutine, local
    from cogen.core.events import AddCoro, Join, OperationTimeout, Signal, Sleep, WaitForSignal
    from cogen.core.pubsub import PublishSubscribeQueue
    from cogen.core.queue import Empty, Full, Queue
    from cogen.core.schedulers import Scheduler
    from cogen.core.sockets import ConnectionClosed, Socket, SocketError
    from cogen.core.util import priority

    import cogen_aio.coroutines as co
    from cogen_aio import ops, pubsub, queue, scheduler, sockets

    assert coro is co.coro and coroutine is co.coroutine and local is co.local
    assert (AddCoro, Join) == (co.AddCoro, co.Join)
    assert (Signal, Sleep, WaitForSignal, OperationTimeout) == (
        ops.Signal, ops.Sleep, ops.WaitForSignal, ops.OperationTimeout
    )
    assert (Queue, Full, Empty) == (queue.Queue, queue.Full, queue.Empty)
    assert PublishSubscribeQueue is pubsub.PublishSubscribeQueue
    assert Scheduler is scheduler.Scheduler
    assert (Socket, SocketError, ConnectionClosed) == (
        sockets.Socket, sockets.SocketError, sockets.ConnectionClosed
    )
    assert priority.FIRST == 3 and priority.LAST == 0 and priority.DEFAULT == -1


def test_cogen_common_star_import() -> None:
    namespace: dict[str, Any] = {}
    exec("from cogen.common import *", namespace)
    names = {k for k in namespace if not k.startswith("__")}
    assert names == {"coroutine", "coro", "Scheduler", "events", "sockets", "proactors", "priority"}
    assert namespace["events"] is importlib.import_module("cogen.core.events")


def test_import_cogen_gives_core_and_common_as_attributes() -> None:
    import cogen

    assert cogen.core.events is importlib.import_module("cogen.core.events")
    assert cogen.common.Scheduler is cogen.core.schedulers.Scheduler


def test_web_async_module_under_every_spelling() -> None:
    from cogen.web import SynchronousInputMiddleware, async_, lazy_sr, wsgi

    from cogen_aio import middleware

    assert SynchronousInputMiddleware is middleware.SynchronousInputMiddleware
    assert lazy_sr is middleware.lazy_sr
    assert async_.LazyStartResponseMiddleware is middleware.LazyStartResponseMiddleware
    assert wsgi.Runner.__module__ == "cogen_aio.compat.web.wsgi"
    # ``import cogen.web.async`` is a syntax error in Python 3.7+, a string import is not.
    with pytest.raises(SyntaxError):
        compile("import cogen.web.async", "<app>", "exec")
    by_string = importlib.import_module("cogen.web.async")
    assert by_string is sys.modules["cogen_aio.compat.web.async"]
    assert by_string.SynchronousInputMiddleware is middleware.SynchronousInputMiddleware


def test_unknown_legacy_modules_are_not_found() -> None:
    with pytest.raises(ModuleNotFoundError, match="cogen.core.nothing"):
        importlib.import_module("cogen.core.nothing")
    with pytest.raises(ImportError):
        exec("from cogen.core import magic", {})


# -- install() ------------------------------------------------------------------------------------


def test_install_is_idempotent() -> None:
    finders = list(sys.meta_path)
    assert cogen_aio.compat.install() is True
    assert cogen_aio.compat.install() is True
    assert sys.meta_path == finders


def test_install_leaves_a_real_cogen_alone(tmp_path: Path) -> None:
    cogen_aio.compat.uninstall()
    real = tmp_path / "cogen"
    real.mkdir()
    (real / "__init__.py").write_text("REAL = True\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.warns(RuntimeWarning, match="real 'cogen' package is importable"):
            assert cogen_aio.compat.install() is False
        assert not cogen_aio.compat.installed()
        import cogen

        assert cogen.REAL is True
        with pytest.warns(RuntimeWarning, match="already imported"):
            assert cogen_aio.compat.install() is False
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("cogen", None)
    assert cogen_aio.compat.install() is True
    import cogen

    assert cogen is cogen_aio.compat


def test_install_can_publish_the_0_1_environ() -> None:
    assert parking.legacy_environ is False
    try:
        cogen_aio.compat.install(legacy_environ=True)
        assert parking.legacy_environ is True
    finally:
        parking.enable_legacy_environ(False)


# -- 0.1.x names ----------------------------------------------------------------------------------


def test_0_1_names_warn_once_each() -> None:
    from cogen.core import events

    importlib.reload(events)  # start from a module that has warned about nothing yet
    from cogen.core import coroutines, sockets

    expected = {
        "ConnectionError": sockets.SocketError,
        "ConnectionClosed": sockets.ConnectionClosed,
        "CoroutineException": coroutines.CoroutineException,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, value in expected.items():
            assert getattr(events, name) is value
            assert getattr(events, name) is value
        call = events.Call
        assert events.Call is call
        namespace: dict[str, Any] = {}
        exec("from cogen.core.events import Call, ConnectionError", namespace)
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert sorted(messages) == sorted(
        [
            "cogen.core.events.ConnectionError is a cogen 0.1.x name; use cogen.core.sockets.SocketError",
            "cogen.core.events.ConnectionClosed is a cogen 0.1.x name; use "
            "cogen.core.sockets.ConnectionClosed",
            "cogen.core.events.CoroutineException is a cogen 0.1.x name; use "
            "cogen.core.coroutines.CoroutineException",
            "cogen.core.events.Call is a cogen 0.1.x name; use yield coro(*args, **kwargs)",
        ]
    )
    with pytest.raises(AttributeError):
        events.Pass  # noqa: B018 - not one of the names kept


def test_0_1_call_is_calling_the_coroutine() -> None:
    from cogen.common import Scheduler, coroutine, events

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        Call = events.Call

    @coroutine
    def double(x: int) -> Any:
        yield events.Sleep(0)
        return 2 * x

    @coroutine
    def fails() -> Any:
        yield events.Sleep(0)
        raise ValueError("no")

    seen: list[Any] = []

    @coroutine
    def caller() -> Any:
        seen.append((yield Call(double, args=(21,))))
        seen.append((yield Call(double, kwargs={"x": 1})))
        try:
            yield Call(fails)
        except ValueError as exc:
            seen.append(repr(exc))

    sched = Scheduler()
    sched.add(caller)
    sched.run()
    assert seen == [42, 2, "ValueError('no')"]


# -- what other modules of the original offered ---------------------------------------------------


def test_proactors_give_a_stand_in_so_old_schedulers_run() -> None:
    from cogen.core import proactors
    from cogen.common import Scheduler, coroutine, events, priority

    names = ["select", "poll", "epoll", "stdlib_epoll", "kqueue", "stdlib_kqueue", "iocp",
             "ctypes_iocp", "any"]
    classes = {getattr(proactors, "has_" + name)() for name in names}
    assert classes == {proactors.DefaultProactor}
    assert proactors.get_first(lambda: None, proactors.has_epoll) is proactors.DefaultProactor

    order: list[str] = []

    @coroutine
    def tick(name: str) -> Any:
        for i in range(2):
            order.append(f"{name}{i}")
            yield

    sched = Scheduler(proactor=proactors.has_epoll(), default_priority=priority.FIRST)
    sched.add(tick, args=("a",))
    sched.add(tick, args=("b",))
    sched.run()
    assert order == ["a0", "b0", "a1", "b1"]


def test_util_debug_traces_calls(capsys: pytest.CaptureFixture[str]) -> None:
    from cogen.core.util import debug, fmt_list

    out = io.StringIO()

    @debug(trace=False, output=out)
    def add(a: int, b: int = 0) -> int:
        return a + b

    assert add(1, b=2) == 3
    text = out.getvalue()
    assert "--- Calling" in text and "add with:" in text
    assert "| 0: 1" in text and "'b': 2" in text
    assert "returned: 3" in text

    @debug(trace=True)
    def traced() -> int:
        return 1

    assert traced() == 1
    assert "--- Tracer: call" in capsys.readouterr().err
    assert fmt_list(["ab", "cd"]) == "['ab', 'cd']"
    assert fmt_list(["x" * 60, "y" * 60, "z"], lim=100) == (
        "['" + "x" * 60 + "', '" + "y" * 40 + " ...' .. 1 more]"
    )


def test_async_proxy_and_wrappers_take_the_originals_arguments() -> None:
    from cogen.web.async_ import (
        COGENCallWrapper,
        COGENOperationCall,
        COGENOperationWrapper,
        COGENProxy,
        COGENSimpleWrapper,
    )
    from cogen.core import events

    proxy = COGENProxy(content_length=10, read_count=0, result="r")
    assert (proxy.content_length, proxy.read_count, proxy.result, proxy.exception) == (10, 0, "r", None)
    with pytest.raises(AttributeError):
        proxy.anything = 1  # fixed slots, as in the original
    assert COGENOperationWrapper(proxy, events).Sleep(1) == b""
    assert isinstance(proxy.take(), events.Sleep)
    assert COGENOperationCall(proxy, events.Signal)("x") == b""
    assert isinstance(proxy.take(), events.Signal)
    assert COGENCallWrapper(proxy)(events.Sleep)(2) == b""
    sleep = proxy.take()
    assert COGENSimpleWrapper(proxy)(sleep) is None and proxy.take() is sleep


# -- environ['cogen.core'] walks the old package layout --------------------------------------------


@pytest.mark.asyncio
async def test_environ_cogen_core_reaches_every_old_module_from_a_request() -> None:
    import cogen_aio.coroutines as co
    from cogen.core.coroutines import coroutine

    queue_mod = importlib.import_module("cogen_aio.queue")
    results = queue_mod.Queue()

    @coroutine
    def produce(n: int) -> Any:
        yield results.put(n * 10)
        return n

    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        core = environ["cogen.core"]
        for name in compat_core.LAYOUT:
            # Walking gives wrappers over the modules (constants stay unreachable: §13).
            seen[name] = getattr(core, name)._target
        start_response("200 OK", [])
        yield core.events.AddCoro(produce, args=(4,))
        job = environ["cogen.wsgi"].result
        yield core.events.Join(job, timeout=5)
        joined = environ["cogen.wsgi"].result
        yield environ["cogen.call"](results.get)(timeout=5)
        yield b"%d %d %s" % (joined, environ["cogen.wsgi"].result, type(job).__name__.encode())

    server = cogen_aio.Server(app, port=0, access_log=False)
    [(host, port)] = await server.start()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), HANG)
        writer.close()
    finally:
        await server.shutdown()
    assert data.endswith(b"\r\n\r\n4 40 CoroutineInstance")
    assert seen["events"].AddCoro is co.AddCoro and seen["events"].Join is co.Join
    assert seen["events"].WaitForSignal is cogen_aio.WaitForSignal
    assert seen["queue"].Queue is queue_mod.Queue
    assert seen["pubsub"].PublishSubscribeQueue.__module__ == "cogen_aio.pubsub"
    assert seen["coroutines"].coroutine is co.coroutine
    assert seen["sockets"].Socket.__module__ == "cogen_aio.sockets"
    assert seen["util"].priority.FIRST == 3
    assert seen["pipe"].Iterate.__module__ == "cogen_aio.pipe"
    assert seen["schedulers"].Scheduler.__module__ == "cogen_aio.scheduler"


# -- cogen.web.wsgi --------------------------------------------------------------------------------


def test_runner_serves_with_a_startup_coroutine(caplog: pytest.LogCaptureFixture) -> None:
    """The docs' recipe: build a Runner, add a startup coroutine to its scheduler, run it."""
    from cogen.core import events
    from cogen.core.coroutines import coroutine
    from cogen.web.wsgi import Runner

    from cogen_aio.ops import Call

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield environ["cogen.core"].events.WaitForSignal("news", timeout=5)
        yield "%s %s %s" % (  # str chunks, as Python 2 apps yielded
            environ["cogen.wsgi"].result,
            environ["SERVER_NAME"],
            type(environ["cogen.sched"]).__name__,
        )

    options = {"server_name": "legacy.example", "sched_default_timeout": "20", "proactor": "epoll"}
    with caplog.at_level(logging.WARNING, logger="cogen_aio.error"):
        runner = Runner("127.0.0.1", 0, app, options)
    got: list[Any] = []

    async def fetch(address: Any) -> bytes:
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), HANG)
        writer.close()
        return data

    @coroutine
    def startup() -> Any:
        while not runner.server.addresses:
            yield events.Sleep(0.005)
        request = asyncio.ensure_future(fetch(runner.server.addresses[0]))
        while not runner.server.server.parked_operations():
            yield events.Sleep(0.005)
        got.append((yield events.Signal("news", "hello")))
        got.append((yield Call(request)))
        runner.server.stop()

    runner.sched.add(startup)
    runner.run()
    assert got[0] == 1
    assert got[1].endswith(b"\r\n\r\nhello legacy.example Scheduler")
    assert runner.server.config.op_timeout == 20.0
    logged = " | ".join(r.getMessage() for r in caplog.records)
    assert "'sched_default_timeout'" in logged and "'proactor'" in logged


def test_wsgiserver_with_a_dict_of_apps_dispatches_on_path_info(tmp_path: Path) -> None:
    from cogen.core.coroutines import coroutine
    from cogen.core.schedulers import Scheduler
    from cogen.web.wsgi import WSGIFileWrapper, WSGIServer

    from cogen_aio.ops import Call

    page = tmp_path / "page.txt"
    page.write_bytes(b"file body " * 100)

    def show(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()]

    def files(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        wrapper = WSGIFileWrapper(open(page, "rb"), blocksize=64)
        assert isinstance(wrapper, WSGIFileWrapper)
        return wrapper

    sched = Scheduler()
    server = WSGIServer(
        ("127.0.0.1", 0), {"/": show, "/send": show, "/send/deep": show, "/file": files}, sched,
        request_queue_size=7,
    )
    assert server.config.backlog == 7
    answers: dict[str, bytes] = {}

    async def fetch(path: str) -> bytes:
        # Keep-alive, closed by the client once the response is read: a response the server
        # delimits by closing would leave a lingering close timer the scheduler waits for.
        reader, writer = await asyncio.open_connection(*server.addresses[0])
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
        length = int(head.lower().partition(b"content-length: ")[2].partition(b"\r\n")[0])
        body = await asyncio.wait_for(reader.readexactly(length), HANG)
        writer.close()
        return head + body

    @coroutine
    def client() -> Any:
        from cogen.core import events

        while not server.addresses:
            yield events.Sleep(0.005)
        for path in ("/send/hello", "/send/deep/x", "/sendx", "/", "/file"):
            answers[path] = yield Call(fetch, (path,))
        server.stop()

    sched.add(server.serve)
    sched.add(client)
    sched.run()
    body = {path: data.partition(b"\r\n\r\n")[2] for path, data in answers.items()}
    assert body["/send/hello"] == b"/send|/hello"  # cogen-api.md §14.8 [probed]
    assert body["/send/deep/x"] == b"/send/deep|/x"
    assert body["/sendx"] == b"|/sendx"  # no prefix match: "/" is the catch-all
    assert body["/"] == b"|/"
    assert body["/file"] == b"file body " * 100
    assert b"content-length: 1000" in answers["/file"].lower()


def test_path_info_dispatcher_without_catch_all_answers_404() -> None:
    from cogen.web.wsgi import WSGIPathInfoDispatcher

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"app"]

    dispatcher = WSGIPathInfoDispatcher([("/a/", app)])
    calls: list[Any] = []
    environ = {"PATH_INFO": "/b", "SCRIPT_NAME": ""}
    body = dispatcher(environ, lambda status, headers: calls.append((status, headers)))
    assert calls == [("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])]
    assert list(body) == [b""]
    assert environ == {"PATH_INFO": "/b", "SCRIPT_NAME": ""}  # the copy is changed, not this


def test_asbool_and_the_original_names() -> None:
    from cogen.web import wsgi

    assert wsgi.asbool("Yes") is True and wsgi.asbool(" off ") is False and wsgi.asbool(0) is False
    with pytest.raises(ValueError):
        wsgi.asbool("maybe")
    assert wsgi.local is importlib.import_module("cogen_aio.coroutines").local


APP_MODULE = """
def make_app(global_conf, **local):
    def app(environ, start_response):
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]
    return app
"""


def test_paste_string_imports_of_the_old_module_names(tmp_path: Path) -> None:
    """Old .ini files name factories by import string: ``cogen.web.async:...`` still loads."""
    from paste.deploy import loadapp, loadserver

    from cogen_aio.middleware import LazyStartResponseMiddleware, SynchronousInputMiddleware

    (tmp_path / "legacyapp.py").write_text(APP_MODULE)
    ini = tmp_path / "legacy.ini"
    ini.write_text(
        textwrap.dedent(
            """
            [server:main]
            paste.server_factory = cogen.web.wsgi:server_factory
            host = 127.0.0.1
            port = 0
            sockoper_timeout = 10

            [app:main]
            paste.app_factory = legacyapp:make_app
            filter-with = sync

            [filter:sync]
            paste.filter_app_factory = cogen.web.async:SynchronousInputMiddleware
            buffer_length = 16
            filter-with = lazy

            [filter:lazy]
            paste.filter_app_factory = cogen.web.async:LazyStartResponseMiddleware
            """
        )
    )
    sys.path.insert(0, str(tmp_path))
    try:
        app = loadapp(f"config:{ini}")
        serve = loadserver(f"config:{ini}")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("legacyapp", None)
    assert isinstance(app, LazyStartResponseMiddleware)
    assert isinstance(app.app, SynchronousInputMiddleware) and app.app.buffer_length == 16
    assert callable(serve)


def test_legacy_module_files_are_importable_by_path() -> None:
    # Every module of the package compiles and imports under its real name too.
    root = Path(cogen_aio.compat.__file__).parent
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent.parent).with_suffix("")
        name = ".".join(relative.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        assert importlib.import_module(name).__name__ == name, os.fspath(path)
