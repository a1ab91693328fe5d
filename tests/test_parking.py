"""The parking contract (cogen-api.md §13–14 with DESIGN.md's fixes), over the in-memory transport."""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import time
from typing import Any, Callable, Iterator

import pytest

import cogen_aio
from cogen_aio import ops, parking
from cogen_aio.config import Config
from cogen_aio.ops import OperationTimeout, Signal, Sleep, WaitForSignal
from cogen_aio.server import ServerState
from memory import Client, request, turns

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterator[Any]]


def outcome(environ: dict[str, Any]) -> tuple[Any, Any]:
    proxy = environ["cogen.wsgi"]
    return proxy.result, proxy.exception


def shared_state(app: App, **settings: Any) -> ServerState:
    settings.setdefault("access_log", False)
    return ServerState(app, Config(**settings), asyncio.get_running_loop())


# -- the wrappers park and hand back an empty chunk ----------------------------------------------


@pytest.mark.asyncio
async def test_core_sleep_through_the_wrapper_parks() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        chunk = environ["cogen.core"].events.Sleep(0.02)
        seen["chunk"] = chunk
        seen["parked"] = environ["cogen.wsgi"].operation
        started = time.monotonic()
        yield chunk
        seen["elapsed"] = time.monotonic() - started
        seen["outcome"] = outcome(environ)
        seen["after"] = environ["cogen.wsgi"].operation
        yield b"woke"

    client = Client(app)
    reply = await client.exchange(request())
    assert reply.body == b"woke"
    assert seen["chunk"] == b"" and isinstance(seen["parked"], Sleep)
    assert seen["elapsed"] >= 0.015
    assert seen["outcome"] == (None, None)
    assert seen["after"] is None  # the server took it


@pytest.mark.asyncio
async def test_wait_for_signal_and_signal_through_the_wrapper() -> None:
    def waiter(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        assert environ["cogen.core"].events.WaitForSignal("news", timeout=5) == b""
        yield b""
        result, exception = outcome(environ)
        yield b"got %r %r" % (result, exception)

    def signaller(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield environ["cogen.core"].events.Signal("news", b"hot")
        yield b"woke %r" % (environ["cogen.wsgi"].result,)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        return (waiter if environ["PATH_INFO"] == "/wait" else signaller)(environ, start_response)

    state = shared_state(app)
    waiting, signalling = Client(app, state=state), Client(app, state=state)
    waiting.feed(request(target="/wait"))
    await turns()
    assert ops.waiting_count("news") == 1
    reply = await signalling.exchange(request(target="/signal"))
    assert reply.body == b"woke 1"
    await waiting.wait(lambda: waiting.reply().complete)
    assert waiting.reply().body == b"got b'hot' None"


@pytest.mark.asyncio
async def test_cogen_call_parks_a_coroutine_and_stores_its_result() -> None:
    async def compute(a: int, b: int = 0) -> int:
        await asyncio.sleep(0.001)
        return a * 10 + b

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield environ["cogen.call"](compute)(4, b=2)
        yield b"%r" % (outcome(environ),)

    reply = await Client(app).exchange(request())
    assert reply.body == b"(42, None)"


@pytest.mark.asyncio
async def test_cogen_yield_returns_none_and_parks() -> None:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        chunk = environ["cogen.yield"](Sleep(0.001))
        seen.append(chunk)
        yield chunk
        seen.append(outcome(environ))
        yield environ["cogen.yield"](Signal("nobody", 1))
        yield b"%r" % (environ["cogen.wsgi"].result,)

    reply = await Client(app).exchange(request())
    assert seen == [None, (None, None)]
    assert reply.body == b"0"


@pytest.mark.asyncio
async def test_operations_and_awaitables_yielded_directly_are_awaited() -> None:
    async def coro() -> str:
        await asyncio.sleep(0)
        return "coroutine"

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        loop = asyncio.get_running_loop()
        results = []
        yield Sleep(0.001)
        results.append(outcome(environ))
        future = loop.create_future()
        loop.call_later(0.005, future.set_result, "future")
        yield future
        results.append(outcome(environ))
        yield coro()
        results.append(outcome(environ))
        yield asyncio.ensure_future(coro())
        results.append(outcome(environ))
        yield b"%r" % (results,)

    reply = await Client(app).exchange(request())
    assert reply.body == b"[(None, None), ('future', None), ('coroutine', None), ('coroutine', None)]"


# -- outcomes ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_timeout_outcome_is_stored_never_raised_and_reset_after_success() -> None:
    seen: dict[str, Any] = {}

    async def fails() -> None:
        raise ValueError("bad")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        op = WaitForSignal("never", timeout=0.01)
        yield environ["cogen.yield"](op)
        result, exception = outcome(environ)
        seen["op"] = op
        seen["timeout"] = (result, exception)
        yield environ["cogen.call"](fails)()
        seen["failure"] = outcome(environ)
        yield environ["cogen.core"].events.Sleep(0)
        seen["success"] = outcome(environ)
        yield b"ok"

    reply = await Client(app).exchange(request())
    assert reply.body == b"ok"
    result, exception = seen["timeout"]
    assert isinstance(result, OperationTimeout)
    assert result.args[0] is seen["op"] and result.message is seen["op"]
    assert exception[0] is OperationTimeout and exception[1] is result
    result, exception = seen["failure"]
    assert isinstance(result, ValueError) and exception[1] is result
    assert exception[2] is not None  # the traceback of the failure
    assert seen["success"] == (None, None)


@pytest.mark.asyncio
async def test_a_parked_object_that_is_not_an_operation_gives_a_type_error_outcome() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield environ["cogen.call"](lambda: 42)()
        result, _ = outcome(environ)
        yield type(result).__name__.encode()

    reply = await Client(app).exchange(request())
    assert reply.body == b"TypeError"


# -- park points and headers ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_headers_and_the_waiting_line_arrive_while_parked() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"I'm waiting\n"
        yield environ["cogen.core"].events.WaitForSignal("comet")
        yield b"%s\n" % environ["cogen.wsgi"].result

    client = Client(app)
    client.feed(request())
    await client.wait_output(b"I'm waiting\n")
    assert client.output.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in client.output
    assert ops.waiting_count("comet") == 1
    assert cogen_aio.signal("comet", b"news") == 1
    await client.wait(lambda: client.reply().complete)
    assert client.reply().body == b"I'm waiting\nnews\n"


@pytest.mark.asyncio
async def test_a_non_empty_chunk_never_runs_a_parked_operation() -> None:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        op = WaitForSignal("later", timeout=5)
        environ["cogen.yield"](op)
        yield b"body first"
        seen.append(environ["cogen.wsgi"].operation is op)
        seen.append(ops.waiting_count("later"))
        yield b""  # now it runs
        yield b"|%s" % environ["cogen.wsgi"].result

    client = Client(app)
    client.feed(request())
    await client.wait(lambda: ops.waiting_count("later") == 1)
    assert seen == [True, 0]
    cogen_aio.signal("later", b"sig")
    await client.wait(lambda: client.reply().complete)
    assert client.reply().body == b"body first|sig"


# -- Signal semantics ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_signal_wakes_waiters_in_order_before_the_signaller_continues() -> None:
    order: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        name = environ["PATH_INFO"][1:]
        start_response("200 OK", [])
        if name == "signal":
            yield environ["cogen.core"].events.Signal("chan", "v")
            order.append("signaller:%s" % environ["cogen.wsgi"].result)
        else:
            yield environ["cogen.core"].events.WaitForSignal("chan")
            order.append(name)
        yield b"."

    state = shared_state(app)
    waiters = [Client(app, state=state) for _ in range(3)]
    for i, client in enumerate(waiters):
        client.feed(request(target=f"/w{i}"))
    await turns()
    assert ops.waiting_count("chan") == 3
    signaller = Client(app, state=state)
    await signaller.exchange(request(target="/signal"))
    assert order == ["w0", "w1", "w2", "signaller:3"]


@pytest.mark.asyncio
async def test_signals_are_not_latched() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield Signal("unheard", 1)
        woken = environ["cogen.wsgi"].result
        yield WaitForSignal("unheard", timeout=0.02)
        yield b"%d %s" % (woken, type(environ["cogen.wsgi"].result).__name__.encode())

    reply = await Client(app).exchange(request())
    assert reply.body == b"0 OperationTimeout"


@pytest.mark.asyncio
async def test_recipients_parks_the_signaller_until_enough_waiters() -> None:
    order: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        name = environ["PATH_INFO"][1:]
        start_response("200 OK", [])
        if name == "signal":
            yield Signal("quorum", "go", recipients=2)
        else:
            yield WaitForSignal("quorum")
        order.append(f"{name}:{environ['cogen.wsgi'].result}")
        yield b"."

    state = shared_state(app)
    signaller, first, second = (Client(app, state=state) for _ in range(3))
    signaller.feed(request(target="/signal"))
    await turns()
    first.feed(request(target="/w0"))
    await turns()
    assert order == []  # one waiter is not enough
    second.feed(request(target="/w1"))
    await signaller.wait(lambda: len(order) == 3)
    assert order == ["w0:go", "w1:go", "signal:2"]


# -- timeouts ------------------------------------------------------------------------------------


def timeout_app(timeout: Any) -> App:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield environ["cogen.core"].events.WaitForSignal("t", timeout=timeout)
        yield type(environ["cogen.wsgi"].result).__name__.encode()

    return app


@pytest.mark.asyncio
@pytest.mark.parametrize("timeout", [None, 0])
async def test_none_and_zero_take_the_servers_op_timeout(timeout: Any) -> None:
    client = Client(timeout_app(timeout), op_timeout=0.02)
    started = time.monotonic()
    reply = await client.exchange(request())
    assert reply.body == b"OperationTimeout"
    assert time.monotonic() - started >= 0.015


@pytest.mark.asyncio
@pytest.mark.parametrize("timeout", [None, 0, -1])
async def test_no_timeout_by_default_and_minus_one_never(timeout: Any) -> None:
    settings = {"op_timeout": 0.01} if timeout == -1 else {}
    client = Client(timeout_app(timeout), **settings)
    client.feed(request())
    await asyncio.sleep(0.05)
    assert ops.waiting_count("t") == 1
    cogen_aio.signal("t")
    await client.wait(lambda: client.reply().complete)
    assert client.reply().body == b"NoneType"


@pytest.mark.asyncio
@pytest.mark.parametrize("timeout", [0.02, datetime.timedelta(milliseconds=20)])
async def test_positive_seconds_and_timedelta(timeout: Any) -> None:
    client = Client(timeout_app(timeout), op_timeout=60)
    started = time.monotonic()
    reply = await client.exchange(request())
    assert reply.body == b"OperationTimeout"
    assert 0.015 <= time.monotonic() - started < 1


@pytest.mark.asyncio
async def test_sleep_is_not_cut_short_by_the_default_timeout() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield Sleep(0.03)
        yield b"%r" % (outcome(environ),)

    reply = await Client(app, op_timeout=0.01).exchange(request())
    assert reply.body == b"(None, None)"


@pytest.mark.asyncio
async def test_sleep_zero_is_a_cooperative_yield() -> None:
    order: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        name = environ["PATH_INFO"][1:]
        start_response("200 OK", [])
        for i in range(3):
            order.append(f"{name}{i}")
            yield environ["cogen.core"].events.Sleep(0)
        yield b"."

    state = shared_state(app)
    a, b = Client(app, state=state), Client(app, state=state)
    a.feed(request(target="/a"))
    b.feed(request(target="/b"))
    await a.wait(lambda: len(order) == 6 and a.reply().complete and b.reply().complete)
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]


# -- asyncio code meets parked requests ---------------------------------------------------------


@pytest.mark.asyncio
async def test_asyncio_task_signals_a_parked_request() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield WaitForSignal("from-asyncio")
        yield b"%s" % environ["cogen.wsgi"].result

    client = Client(app)
    client.feed(request())
    await turns()

    async def task() -> int:
        return cogen_aio.signal("from-asyncio", b"value")

    assert await asyncio.create_task(task()) == 1
    await client.wait(lambda: client.reply().complete)
    assert client.reply().body == b"value"


@pytest.mark.asyncio
async def test_a_thread_signals_a_parked_request() -> None:
    loop = asyncio.get_running_loop()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield WaitForSignal("from-thread")
        yield b"%s" % environ["cogen.wsgi"].result

    client = Client(app)
    client.feed(request())
    await turns()
    counts: list[int] = []
    thread = threading.Thread(
        target=lambda: counts.append(
            cogen_aio.signal_threadsafe(loop, "from-thread", b"threaded").result(5)
        )
    )
    thread.start()
    await client.wait(lambda: client.replies() and client.reply().complete)
    thread.join(5)
    assert counts == [1]
    assert client.reply().body == b"threaded"


@pytest.mark.asyncio
async def test_a_parked_request_signals_an_asyncio_task() -> None:
    waiter = asyncio.ensure_future(WaitForSignal("to-asyncio", timeout=5))
    await turns()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield Signal("to-asyncio", "hello task")
        yield b"%d" % environ["cogen.wsgi"].result

    reply = await Client(app).exchange(request())
    assert reply.body == b"1"
    assert await waiter == "hello task"


# -- the proxy and the legacy object -------------------------------------------------------------


@pytest.mark.asyncio
async def test_cogen_wsgi_rejects_unknown_attributes() -> None:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        proxy = environ["cogen.wsgi"]
        try:
            proxy.mine = 1
        except AttributeError:
            seen.append("rejected")
        seen.append(str(proxy).startswith("<cogen.wsgi content_length=None read_count=0"))
        start_response("200 OK", [])
        yield b"."

    await Client(app).exchange(request())
    assert seen == ["rejected", True]


@pytest.mark.asyncio
async def test_wrapper_attributes_of_callables_are_not_reachable() -> None:
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        try:
            environ["cogen.core"].events.Sleep.something
        except AttributeError:
            seen.append("AttributeError")
        start_response("200 OK", [])
        yield b"."

    await Client(app).exchange(request())
    assert seen == ["AttributeError"]


@pytest.mark.asyncio
async def test_legacy_cogen_object(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parking, "legacy_environ", True)
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        cogen = environ["cogen"]
        cogen.mine = "own attribute"
        start_response("200 OK", [])
        yield cogen.core.events.WaitForSignal("legacy", timeout=0.01)
        seen["result"] = cogen.result
        seen["exception"] = cogen.exception
        cogen.operation = Sleep(0.001)
        seen["parked"] = environ["cogen.wsgi"].operation
        yield b""
        seen["after"] = (cogen.result, cogen.exception, cogen.operation, cogen.mine)
        yield b"."

    await Client(app).exchange(request())
    assert isinstance(seen["result"], OperationTimeout)
    assert seen["exception"][1] is seen["result"]
    assert isinstance(seen["parked"], Sleep)
    assert seen["after"] == (None, None, None, "own attribute")


@pytest.mark.asyncio
async def test_legacy_cogen_object_is_off_by_default() -> None:
    seen: list[bool] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        seen.append("cogen" in environ)
        start_response("200 OK", [])
        return []

    Client(app).feed(request())
    assert seen == [False]


@pytest.mark.asyncio
async def test_legacy_environ_setting_publishes_the_object_per_server() -> None:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        seen.append(environ.get("cogen"))
        start_response("200 OK", [])
        return []

    Client(app, legacy_environ=True).feed(request())
    Client(app).feed(request())
    assert isinstance(seen[0], parking.LegacyCogen)
    assert seen[1] is None


# -- misuse detection ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_flattening_middleware_is_detected(error_log: pytest.LogCaptureFixture) -> None:
    def inner(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield environ["cogen.core"].events.Sleep(0.01)
        yield environ["cogen.core"].events.Sleep(0.01)
        yield b"done"

    def flattening(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return [b"".join(inner(environ, start_response))]

    reply = await Client(flattening).exchange(request())
    assert reply.body == b"done"
    warnings = [
        r.getMessage() for r in error_log.records if r.levelno == logging.WARNING
    ]
    assert any("middleware" in message for message in warnings)


@pytest.mark.asyncio
async def test_flattened_coroutine_is_closed_not_leaked(error_log: pytest.LogCaptureFixture) -> None:
    async def never_awaited() -> None:  # pragma: no cover - closed, never run
        pass

    def inner(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield environ["cogen.call"](never_awaited)()
        yield b"done"

    def flattening(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        return [b"".join(inner(environ, start_response))]

    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reply = await Client(flattening).exchange(request())
        import gc

        gc.collect()
    assert reply.body == b"done"
    assert not [w for w in caught if "never awaited" in str(w.message)]
    assert any("never awaited" in r.getMessage() for r in error_log.records)


@pytest.mark.asyncio
async def test_busy_empty_yields_are_logged_and_do_not_starve_others(
    error_log: pytest.LogCaptureFixture,
) -> None:
    progress: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        if environ["PATH_INFO"] == "/busy":
            for i in range(20_000):
                if i % 5000 == 0:
                    progress.append(f"busy{i}")
                yield b""
        else:
            for i in range(3):
                progress.append(f"polite{i}")
                yield Sleep(0)
        yield b"."

    state = shared_state(app)
    busy, polite = Client(app, state=state), Client(app, state=state)
    busy.feed(request(target="/busy"))
    polite.feed(request(target="/polite"))
    await busy.wait(lambda: busy.replies() and busy.reply().complete, timeout=20)
    assert polite.reply().complete
    # The polite request finished while the busy one was still looping.
    assert progress.index("polite2") < progress.index("busy5000")
    assert len([r for r in error_log.records if "busy loop" in r.getMessage()]) == 1


# -- disconnect and shutdown ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_client_gone_while_parked_cancels_the_operation() -> None:
    events: list[str] = []
    futures: list[asyncio.Future[Any]] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        try:
            yield WaitForSignal("gone", timeout=30)
        finally:
            events.append("finally")

    client = Client(app)
    client.feed(request())
    await turns()
    exchange = client.protocol.exchange
    assert exchange is not None and exchange._parked is not None
    futures.append(exchange._parked)
    client.disconnect()
    await client.wait_lost()
    assert events == ["finally"]
    assert futures[0].cancelled()
    assert ops.waiting_count("gone") == 0
    assert exchange._timer is None and exchange.parked_operation is None
    assert client.state.connections == set()
    await turns()
    assert ops._hub(asyncio.get_running_loop()).waiting == {}


@pytest.mark.asyncio
async def test_client_gone_cancels_a_parked_coroutine() -> None:
    cancelled: list[bool] = []

    async def long_work() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield environ["cogen.call"](long_work)()

    client = Client(app)
    client.feed(request())
    await turns()
    client.disconnect()
    await client.wait(lambda: cancelled == [True])
    assert cancelled == [True]


@pytest.mark.asyncio
async def test_shutdown_wakes_parked_operations_with_shutting_down() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [])
        yield WaitForSignal("forever")
        result = environ["cogen.wsgi"].result
        yield b"%s" % type(result).__name__.encode()

    client = Client(app, wake_parked_on_shutdown=True)
    client.feed(request())
    await turns()
    client.protocol.shutdown()
    client.protocol.wake_parked()
    await client.wait_closed()
    reply = client.reply()
    assert reply.body == b"ShuttingDown" and reply.complete
    assert reply.headers.get("transfer-encoding") == "chunked"
    await turns()
    assert ops.waiting_count("forever") == 0


@pytest.mark.asyncio
async def test_server_shutdown_lets_long_polls_answer() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield WaitForSignal("poll")
        yield b"outcome: %s" % type(environ["cogen.wsgi"].result).__name__.encode()

    server = cogen_aio.Server(
        app, port=0, wake_parked_on_shutdown=True, timeout_graceful_shutdown=5, access_log=False
    )
    [(host, port)] = await server.start()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request())
    await reader.readuntil(b"\r\n\r\n")
    await server.shutdown()
    data = await reader.read()
    writer.close()
    assert b"outcome: ShuttingDown" in data and data.endswith(b"0\r\n\r\n")
