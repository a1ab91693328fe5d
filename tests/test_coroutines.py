"""cogen coroutines on the test's loop (cogen-api.md §5–6, §17; DESIGN.md's fixes), from asyncio
code and through the real server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from typing import Any, AsyncIterator, Callable, Generator, Iterator

import httpx
import pytest

import cogen_aio
from cogen_aio import ops
from cogen_aio.coroutines import (
    AddCoro,
    Coroutine,
    CoroutineInstance,
    Join,
    coro,
    coroutine,
    debug_coroutine,
    local,
    spawn,
)
from cogen_aio.ops import OperationTimeout, Signal, Sleep, WaitForSignal

StartResponse = Callable[..., Any]
HANG = 10  # seconds: only to turn a hang into a failure
Coro = Generator[Any, Any, Any]  # a cogen coroutine's body


async def run(instance: CoroutineInstance) -> Any:
    return await asyncio.wait_for(instance, HANG)


@contextlib.asynccontextmanager
async def serving(app: Any, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings.setdefault("access_log", False)
    server = cogen_aio.Server(app, port=0, **settings)
    [(host, port)] = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=HANG) as client:
            yield client
    finally:
        await server.shutdown()


# -- the decorator -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_calling_a_decorated_generator_returns_an_instance_that_has_not_started() -> None:
    ran: list[str] = []

    @coroutine
    def job(x: int) -> Coro:
        ran.append("body")
        yield
        return x * 2

    instance = job(21)
    assert isinstance(instance, CoroutineInstance) and isinstance(job, Coroutine)
    assert instance.state == CoroutineInstance.STATE_NEED_INIT and instance.running
    assert instance.name == "job" and "NOTSTARTED" in repr(instance)
    await asyncio.sleep(0)
    assert ran == []
    assert await run(instance) == 42
    assert ran == ["body"] and instance.state == CoroutineInstance.STATE_FINALIZED
    assert instance.result == 42 and not instance.running
    assert job.__name__ == "job" and coro is coroutine


@pytest.mark.asyncio
async def test_methods_plain_functions_and_async_functions_can_be_decorated() -> None:
    class K:
        factor = 2

        @coroutine
        def meth(self, x: int) -> Coro:
            yield
            return x * self.factor

        @coroutine
        def plain(self, x: int) -> int:
            return x + self.factor

    @coroutine
    async def native(x: int) -> int:
        await asyncio.sleep(0)
        return -x

    assert await run(K().meth(21)) == 42
    assert await run(K.meth(K(), 4)) == 8  # through the class, like a function
    assert await run(K().plain(40)) == 42
    assert await run(native(5)) == -5


def test_an_instance_needs_a_generator_or_a_callable() -> None:
    with pytest.raises(ValueError, match="Bad generator"):
        CoroutineInstance(42)


# -- results (cogen-api.md §6, §17) --------------------------------------------------------------


@pytest.mark.asyncio
async def test_results_return_value_end_without_value_and_plain_function() -> None:
    @coroutine
    def returns() -> Coro:
        yield
        return "value"

    @coroutine
    def ends() -> Coro:
        yield

    @coroutine
    def plain() -> str:
        return "plain"

    @coroutine
    def plain_none() -> None:
        pass

    assert await run(returns()) == "value"
    # The original gave () here; both are false, and None is what Python 3 code expects.
    assert await run(ends()) is None
    assert await run(plain()) == "plain"
    assert await run(plain_none()) is None


@pytest.mark.asyncio
async def test_raise_stop_iteration_gives_the_value_and_warns_once_per_place() -> None:
    @coroutine
    def legacy(x: int) -> Coro:
        yield
        raise StopIteration(x)  # Python 2 style; PEP 479 makes it a RuntimeError

    @coroutine
    def legacy_plain() -> None:
        raise StopIteration("from a function")

    with pytest.warns(DeprecationWarning, match="use 'return value'") as caught:
        assert await run(legacy(1)) == 1
        assert await run(legacy(2)) == 2
        assert await run(legacy_plain()) == "from a function"
    assert len(caught) == 2  # once for each place, not for each run
    assert all(w.filename == __file__ for w in caught)


@pytest.mark.asyncio
async def test_a_real_runtime_error_is_still_a_failure() -> None:
    @coroutine
    def broken() -> Coro:
        yield
        raise RuntimeError("not about StopIteration")

    instance = broken()
    with pytest.raises(RuntimeError, match="not about"):
        await run(instance)
    assert instance.state == CoroutineInstance.STATE_FAILED
    assert instance.exception is not None and instance.exception[0] is RuntimeError
    assert instance.result is None


# -- calling other coroutines ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_yielding_a_new_instance_calls_it_and_raises_its_exception_with_traceback() -> None:
    seen: list[Any] = []

    @coroutine
    def inner() -> Coro:
        yield
        raise KeyError("deep")

    @coroutine
    def middle() -> Coro:
        return (yield inner())

    @coroutine
    def doubler(x: int) -> Coro:
        yield Sleep(0.001)
        return 2 * x

    @coroutine
    def outer() -> Coro:
        seen.append((yield doubler(21)))
        try:
            yield middle()
        except KeyError:
            seen.append(traceback.format_exc())

    await run(outer())
    assert seen[0] == 42
    assert "return (yield inner())" in seen[1] and 'raise KeyError("deep")' in seen[1]


@pytest.mark.asyncio
async def test_yielding_a_started_coroutine_joins_it() -> None:
    # The original stranded the caller for ever (cogen-api.md §15.4; DESIGN.md).
    @coroutine
    def slow(x: Any) -> Coro:
        yield Sleep(0.01)
        return x

    @coroutine
    def failing() -> Coro:
        yield
        raise ValueError("joined failure")

    @coroutine
    def waiter(running: CoroutineInstance, failed: CoroutineInstance) -> Coro:
        first = yield running
        again = yield running  # finished by now: its result at once
        nothing = yield failed
        return first, again, nothing

    running = spawn(slow("result"))
    failed = spawn(failing())
    assert await run(waiter(running, failed)) == ("result", "result", None)
    assert failed.exception is not None and str(failed.exception[1]) == "joined failure"


@pytest.mark.asyncio
async def test_yielding_a_non_operation_throws_type_error_into_that_coroutine_only() -> None:
    # The original crashed the whole scheduler (cogen-api.md §2, §15.4).
    log: list[Any] = []

    @coroutine
    def confused() -> Coro:
        try:
            yield "not an operation"
        except TypeError as exc:
            log.append(("caught", "not an operation" in str(exc)))
        yield 42  # uncaught this time: only this coroutine dies

    @coroutine
    def bystander() -> Coro:
        for i in range(3):
            log.append(i)
            yield

    victim, other = spawn(confused()), spawn(bystander())
    with pytest.raises(TypeError, match="confused"):
        await run(victim)
    await run(other)
    assert ("caught", True) in log and [x for x in log if isinstance(x, int)] == [0, 1, 2]


@pytest.mark.asyncio
async def test_a_coroutine_cannot_wait_for_itself() -> None:
    holder: list[CoroutineInstance] = []

    @coroutine
    def selfish() -> Coro:
        yield holder[0]

    holder.append(selfish())
    with pytest.raises(RuntimeError, match="itself"):
        await run(holder[0])


# -- ordering (LAST priority) --------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "pause", [lambda: None, lambda: Sleep(0), lambda: Sleep(None), lambda: Sleep(-1)]
)
async def test_plain_yield_and_sleep_zero_are_round_robin(pause: Callable[[], Any]) -> None:
    # Sleep(0), Sleep(None) and Sleep(-1) never returned in the original (cogen-api.md §15.5);
    # they are cooperative yields, like a plain ``yield``.
    order: list[str] = []

    @coroutine
    def worker(name: str) -> Coro:
        for i in range(3):
            order.append(f"{name}{i}")
            yield pause()

    await asyncio.gather(worker("a"), worker("b"), worker("c"))
    assert order == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


def resolved_future() -> asyncio.Future[Any]:
    future = asyncio.get_running_loop().create_future()
    future.set_result("resolved")
    return future


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "make, outcome",
    [
        (lambda: None, None),
        (lambda: Sleep(0), None),
        (lambda: Signal("nobody waits"), 0),
        (resolved_future, "resolved"),
    ],
    ids=["yield", "Sleep(0)", "Signal", "resolved future"],
)
async def test_an_operation_that_completes_at_once_resumes_exactly_one_turn_later(
    make: Callable[[], Any], outcome: Any
) -> None:
    # Whoever issues an operation resumes through the loop: one turn, like ``await
    # asyncio.sleep(0)``, never zero (others would starve) and never two.
    loop = asyncio.get_running_loop()
    turn = 0
    ticking = True

    def tick() -> None:
        nonlocal turn
        turn += 1
        if ticking:
            loop.call_soon(tick)

    @coroutine
    def stepper() -> Coro:
        seen = []
        for _ in range(5):
            before = turn
            got = yield make()
            seen.append((turn - before, got))
        return seen

    instance = spawn(stepper())
    loop.call_soon(tick)
    try:
        assert await run(instance) == [(1, outcome)] * 5
    finally:
        ticking = False


@pytest.mark.asyncio
@pytest.mark.parametrize("make", [lambda: None, lambda: Sleep(0), lambda: Signal("nobody")])
async def test_a_cancel_during_the_turn_is_thrown_in_at_that_yield(make: Callable[[], Any]) -> None:
    log: list[str] = []

    @coroutine
    def looping() -> Coro:
        try:
            while True:
                yield make()
                log.append("resumed")
        except asyncio.CancelledError:
            log.append("cancelled at the yield")
            raise

    instance = spawn(looping())
    while "resumed" not in log:
        await asyncio.sleep(0)
    instance._cancel()
    with pytest.raises(asyncio.CancelledError):
        await run(instance)
    assert log[-2:] == ["resumed", "cancelled at the yield"]
    assert instance.state == CoroutineInstance.STATE_FAILED


@pytest.mark.asyncio
async def test_the_owner_is_the_stepped_coroutine_and_tasks_its_operations_start() -> None:
    store = local()
    seen: list[Any] = []

    async def asyncio_work() -> str:
        return store.name  # a task started by the operation: the yielding coroutine's values

    @coroutine
    def plain_callee() -> Any:
        seen.append(hasattr(store, "name"))  # its own slot, empty
        store.name = "callee"
        return store.name

    @coroutine
    def caller(name: str) -> Coro:
        store.name = name
        seen.append((yield asyncio_work()))
        seen.append((yield plain_callee()))
        seen.append(store.name)  # its own slot again
        yield Sleep(0)
        seen.append((yield asyncio_work()))

    await run(caller("outer"))
    assert seen == ["outer", False, "callee", "outer", "outer"]
    assert not hasattr(store, "name")  # this test's task is another owner


@pytest.mark.asyncio
async def test_signal_wakes_waiters_in_order_before_the_signaller_continues() -> None:
    order: list[str] = []

    @coroutine
    def waiter(name: str) -> Coro:
        value = yield WaitForSignal("ordered")
        order.append(f"{name}={value}")

    @coroutine
    def signaller() -> Coro:
        woken = yield Signal("ordered", "v")
        order.append(f"signaller woke {woken}")

    waiters = [spawn(waiter(f"w{i}")) for i in range(3)]
    await asyncio.sleep(0.01)
    await run(signaller())
    await asyncio.gather(*waiters)
    assert order == ["w0=v", "w1=v", "w2=v", "signaller woke 3"]


# -- AddCoro and Join (cogen-api.md §5) ----------------------------------------------------------


@pytest.mark.asyncio
async def test_add_coro_returns_the_new_instance() -> None:
    # The original returned None under LAST/OP priorities (§15.3); DESIGN.md: always the instance.
    order: list[Any] = []

    @coroutine
    def child(x: int, y: int = 0) -> Coro:
        order.append(("child", x, y))
        yield
        return x + y

    @coroutine
    def plain_child(x: int) -> int:
        order.append(("plain child", x))
        return x

    @coroutine
    def adder() -> Coro:
        order.append("adder")
        new = yield AddCoro(child, args=(1,), kwargs={"y": 2})
        order.append("adder continues")
        assert isinstance(new, CoroutineInstance) and new.name == "child"
        plain = yield AddCoro(plain_child, args=(5,))
        order.append("adder continues again")
        return (yield Join(new)), (yield Join(plain))

    assert await run(adder()) == (3, 5)
    # As under the original's LAST priority (cogen-api.md §2): a generator's first step only
    # creates the generator, so the adder goes on first; a plain function runs at once.
    assert order == [
        "adder",
        "adder continues",
        ("child", 1, 2),
        ("plain child", 5),
        "adder continues again",
    ]


@pytest.mark.asyncio
async def test_join_gives_result_or_none_and_keeps_the_exception(
    error_log: pytest.LogCaptureFixture,
) -> None:
    @coroutine
    def ok() -> Coro:
        yield Sleep(0.001)
        return "ok"

    @coroutine
    def bad() -> Coro:
        yield
        raise ValueError("some_message")

    @coroutine
    def joiner() -> Coro:
        good = yield AddCoro(ok)
        failed = yield AddCoro(bad)
        return (yield Join(good)), (yield Join(failed)), failed

    good_result, failed_result, failed = await run(joiner())
    assert (good_result, failed_result) == ("ok", None)
    assert failed.state == CoroutineInstance.STATE_FAILED
    exc_type, exc, tb = failed.exception
    assert exc_type is ValueError and str(exc) == "some_message" and tb is not None
    # Join hands back None, not the exception: the failure is reported, as the original did.
    assert any("bad" in r.getMessage() for r in error_log.records)


@pytest.mark.asyncio
async def test_join_on_a_finished_coroutine_returns_at_once() -> None:
    # The original raised AssertionError into the joiner (§15.2).
    @coroutine
    def quick() -> int:
        return 7

    finished = spawn(quick())
    await run(finished)
    assert finished.state == CoroutineInstance.STATE_FINALIZED

    @coroutine
    def late() -> Coro:
        return (yield Join(finished)), (yield Join(finished, timeout=0.05))

    assert await run(late()) == (7, 7)


@pytest.mark.asyncio
async def test_join_with_a_timeout_times_out_or_returns_the_result() -> None:
    # The original's Join waited on itself and always timed out when given a timeout (§15.2).
    @coroutine
    def slow(delay: float) -> Coro:
        yield Sleep(delay)
        return delay

    @coroutine
    def joiner() -> Coro:
        fast = yield AddCoro(slow, args=(0.01,))
        result = yield Join(fast, timeout=HANG)
        laggard = yield AddCoro(slow, args=(0.3,))
        op = Join(laggard, timeout=0.02)
        try:
            yield op
        except OperationTimeout as exc:
            timed_out = exc.args[0] is op and laggard.running
        # The target was not disturbed: joining again waits for it.
        return result, timed_out, (yield Join(laggard))

    assert await run(joiner()) == (0.01, True, 0.3)


@pytest.mark.asyncio
async def test_the_default_operation_timeout_applies_to_join_and_waits() -> None:
    loop = asyncio.get_running_loop()
    ops.set_default_timeout(loop, 0.02)
    try:

        @coroutine
        def forever() -> Coro:
            yield WaitForSignal("never", timeout=-1)  # -1: no timeout, not even the default

        @coroutine
        def joiner(target: CoroutineInstance) -> Coro:
            caught = []
            for op in (Join(target), WaitForSignal("never either")):
                try:
                    yield op
                except OperationTimeout as exc:
                    caught.append(type(exc.args[0]).__name__)
            return caught

        target = spawn(forever())
        assert await run(joiner(target)) == ["Join", "WaitForSignal"]
        assert target.running
        target._cancel()
    finally:
        ops.set_default_timeout(loop, None)


@pytest.mark.asyncio
async def test_several_joiners_all_wake_in_the_order_they_joined() -> None:
    order: list[str] = []

    @coroutine
    def target() -> Coro:
        yield WaitForSignal("release")
        return "done"

    @coroutine
    def joiner(name: str, instance: CoroutineInstance) -> Coro:
        order.append(f"{name}: {(yield Join(instance))}")

    instance = spawn(target())
    joiners = [spawn(joiner(f"j{i}", instance)) for i in range(3)]
    await asyncio.sleep(0.01)
    assert await Signal("release") == 1
    await asyncio.wait_for(asyncio.gather(*(run(j) for j in joiners)), HANG)
    assert order == ["j0: done", "j1: done", "j2: done"]


# -- failures ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_an_uncaught_exception_is_logged_and_others_keep_going(
    error_log: pytest.LogCaptureFixture,
) -> None:
    @coroutine
    def doomed() -> Coro:
        yield
        raise ZeroDivisionError("boom")

    @coroutine
    def survivor() -> Coro:
        for _ in range(3):
            yield
        return "alive"

    victim = spawn(doomed())
    assert await run(survivor()) == "alive"
    [record] = [r for r in error_log.records if "doomed" in r.getMessage()]
    assert record.levelno == logging.ERROR and record.name == "cogen_aio.error"
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError
    assert victim.state == CoroutineInstance.STATE_FAILED


@pytest.mark.asyncio
async def test_a_failure_delivered_to_a_caller_or_awaiter_is_not_logged(
    error_log: pytest.LogCaptureFixture,
) -> None:
    @coroutine
    def failing() -> Coro:
        yield
        raise ValueError("handled")

    @coroutine
    def caller() -> Coro:
        try:
            yield failing()
        except ValueError:
            return "caught"

    assert await run(caller()) == "caught"
    with pytest.raises(ValueError):
        await run(failing())
    assert not [r for r in error_log.records if r.levelno >= logging.ERROR]


@pytest.mark.asyncio
async def test_debug_coroutine_logs_each_resume_and_each_operation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @coroutine
    def helper() -> Coro:
        yield Sleep(0)
        return "helped"

    @debug_coroutine
    def traced() -> Coro:
        value = yield helper()
        try:
            yield WaitForSignal("nobody", timeout=0.01)
        except OperationTimeout:
            pass
        return value

    with caplog.at_level(logging.DEBUG, logger="cogen_aio.debug"):
        assert await run(traced()) == "helped"
    lines = [r.getMessage() for r in caplog.records if r.name == "cogen_aio.debug"]
    assert any("traced" in line and "yields <WaitForSignal" in line for line in lines)
    assert any("traced" in line and "with 'helped'" in line for line in lines)
    assert any("traced" in line and "exception OperationTimeout" in line for line in lines)
    # The coroutine it called is traced too, as in the original.
    assert any(line.startswith("Running <helper") for line in lines)


# -- local (cogen-api.md §6) ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_local_is_private_to_each_coroutine_and_each_callee() -> None:
    store = local()
    seen: dict[str, Any] = {}

    @coroutine
    def callee() -> Coro:
        seen["callee sees caller's"] = hasattr(store, "name")
        store.name = "callee"
        yield
        return store.name

    @coroutine
    def worker(name: str) -> Coro:
        store.name = name
        yield Sleep(0.001)
        seen[f"{name} callee"] = yield callee()
        seen[name] = store.name

    await asyncio.gather(run(worker("a")), run(worker("b")))
    assert seen == {
        "callee sees caller's": False,
        "a callee": "callee",
        "b callee": "callee",
        "a": "a",
        "b": "b",
    }


@pytest.mark.asyncio
async def test_local_missing_attribute_and_delete() -> None:
    store = local()

    @coroutine
    def job() -> Coro:
        with pytest.raises(AttributeError, match="'missing'"):
            getattr(store, "missing")  # noqa: B009 - the attribute access is what is tested
        store.here = 1
        yield
        del store.here
        with pytest.raises(AttributeError, match="'here'"):
            del store.here
        return hasattr(store, "here")

    assert await run(job()) is False


def test_local_outside_any_coroutine_is_one_shared_slot() -> None:
    store = local()
    store.value = 1
    assert store.value == 1 and "value" in repr(store)

    def elsewhere() -> Any:
        return store.value  # another function, still outside: the same slot

    assert elsewhere() == 1


# -- asyncio interop ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cogen_coroutines_yield_asyncio_coroutines_futures_and_tasks() -> None:
    loop = asyncio.get_running_loop()

    async def native(x: int) -> int:
        await asyncio.sleep(0.001)
        return x + 1

    async def failing() -> None:
        raise LookupError("native failure")

    @coroutine
    def mixed() -> Coro:
        a = yield native(1)
        future = loop.create_future()
        loop.call_later(0.001, future.set_result, "future")
        b = yield future
        c = yield asyncio.ensure_future(native(10))
        try:
            yield failing()
        except LookupError as exc:
            d = str(exc)
        return a, b, c, d

    assert await run(mixed()) == (2, "future", 11, "native failure")


@pytest.mark.asyncio
async def test_asyncio_code_awaits_and_spawns_cogen_coroutines() -> None:
    @coroutine
    def work(x: int) -> Coro:
        yield Sleep(0.001)
        if x < 0:
            raise ValueError(x)
        return x

    assert await work(1) == 1  # awaiting starts it
    started = spawn(work(2))
    assert spawn(started) is started
    await asyncio.sleep(0)
    assert started.state == CoroutineInstance.STATE_RUNNING
    assert await started == 2 and await started == 2
    with pytest.raises(ValueError):
        await work(-1)


@pytest.mark.asyncio
async def test_cancelling_the_asyncio_awaiter_cancels_the_coroutine_it_started() -> None:
    cleaned: list[str] = []

    @coroutine
    def waits() -> Coro:
        try:
            yield WaitForSignal("never-sent")
        finally:
            cleaned.append("finally")

    instance = waits()
    awaiter = asyncio.ensure_future(instance)
    await asyncio.sleep(0.01)
    awaiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await awaiter
    await asyncio.sleep(0.01)
    assert cleaned == ["finally"] and instance.state == CoroutineInstance.STATE_FAILED
    assert ops.waiting_count("never-sent") == 0


@pytest.mark.asyncio
async def test_an_outcome_not_yet_read_is_given_back_when_the_coroutine_is_cancelled() -> None:
    # An operation that completes at once (a queue get with an item waiting) is read only after
    # the trip through the loop; cancelled in between, the coroutine cancels the operation's
    # future so the operation can take its outcome back.
    given_back: list[str] = []

    class Immediate(ops.Operation):
        __slots__ = ()

        def _start(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Any]:
            class TakeBack(asyncio.Future):  # type: ignore[type-arg]
                def cancel(self, msg: Any = None) -> bool:
                    given_back.append("cancel after the outcome")
                    return super().cancel(msg)

            future = TakeBack(loop=loop)
            future.set_result("item")
            return future

    got: list[Any] = []

    @coroutine
    def getter() -> Coro:
        got.append((yield Immediate()))

    instance = spawn(getter())
    while instance.state == CoroutineInstance.STATE_NEED_INIT or instance.lastop is None:
        await asyncio.sleep(0)
    instance._cancel()  # during the trip through the loop
    with pytest.raises(asyncio.CancelledError):
        await run(instance)
    assert got == [] and given_back == ["cancel after the outcome"]


# -- through the server (a WSGI app parks coroutines) --------------------------------------------


@pytest.mark.asyncio
async def test_wsgi_app_calls_a_coroutine_through_cogen_call() -> None:
    @coroutine
    def compute(a: int, b: int) -> Coro:
        yield Sleep(0.001)
        if b == 0:
            raise ZeroDivisionError("b is zero")
        return a // b

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        b = int(environ["QUERY_STRING"])
        yield environ["cogen.call"](compute)(84, b)
        proxy = environ["cogen.wsgi"]
        if proxy.exception is None:
            yield b"result %d" % proxy.result
        else:
            kind, instance = proxy.exception[0].__name__, type(proxy.result).__name__
            yield f"failed {kind} {instance}".encode()

    async with serving(app) as client:
        assert (await client.get("/?2")).text == "result 42"
        assert (await client.get("/?0")).text == "failed ZeroDivisionError ZeroDivisionError"


@pytest.mark.asyncio
async def test_wsgi_app_yields_coroutine_instances_and_join() -> None:
    @coroutine
    def background() -> Coro:
        yield Sleep(0.01)
        return "background"

    def app(environ: dict[str, Any], start_response: StartResponse) -> Coro:
        start_response("200 OK", [])
        yield environ["cogen.core"].events.AddCoro(background)
        started = environ["cogen.wsgi"].result
        yield Join(started, timeout=HANG)
        joined = environ["cogen.wsgi"].result
        yield started  # already finished: joined again, its result at once
        again = environ["cogen.wsgi"].result
        never = spawn(forever())
        yield Join(never, timeout=0.02)  # the original's Join with a timeout waited on itself
        timed_out = environ["cogen.wsgi"].result
        never._cancel()
        yield f"{type(started).__name__} {joined} {again} {type(timed_out).__name__}".encode()

    @coroutine
    def forever() -> Coro:
        yield WaitForSignal("join-timeout-never", timeout=-1)

    async with serving(app) as client:
        reply = (await client.get("/")).text
        assert reply == "CoroutineInstance background background OperationTimeout"


@pytest.mark.asyncio
async def test_local_is_per_request_for_two_concurrent_wsgi_requests() -> None:
    store = local()

    @coroutine
    def read_back() -> Coro:
        yield
        return getattr(store, "who", "<unset>")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Coro:
        who = environ["PATH_INFO"].strip("/")
        start_response("200 OK", [])
        store.who = who
        # Both requests are parked here at the same time, each having set its value.
        yield environ["cogen.core"].events.WaitForSignal(f"go-{who}", timeout=HANG)
        seen_here = store.who
        yield environ["cogen.call"](read_back)()  # a coroutine has its own slot
        yield f"{who}: {seen_here} {environ['cogen.wsgi'].result}".encode()

    async with serving(app) as client:
        first = asyncio.ensure_future(client.get("/a"))
        second = asyncio.ensure_future(client.get("/b"))
        for _ in range(200):
            if ops.waiting_count("go-a") and ops.waiting_count("go-b"):
                break
            await asyncio.sleep(0.005)
        ops.signal("go-b")
        ops.signal("go-a")
        assert (await first).text == "a: a <unset>"
        assert (await second).text == "b: b <unset>"


@pytest.mark.asyncio
async def test_a_coroutine_added_by_a_wsgi_request_is_awaited_by_asyncio_code() -> None:
    handed_over: asyncio.Future[CoroutineInstance] = asyncio.get_running_loop().create_future()

    @coroutine
    def legacy(job: str) -> Coro:
        value = yield WaitForSignal(f"feed-{job}", timeout=HANG)
        return f"{job} got {value}"

    def app(environ: dict[str, Any], start_response: StartResponse) -> Coro:
        start_response("200 OK", [])
        yield environ["cogen.call"](AddCoro)(legacy, args=("job1",))
        instance = environ["cogen.wsgi"].result
        handed_over.set_result(instance)
        yield b"started %s" % instance.name.encode()

    async with serving(app) as client:
        assert (await client.get("/")).text == "started legacy"
        instance = await asyncio.wait_for(handed_over, HANG)
        for _ in range(200):
            if ops.waiting_count("feed-job1"):
                break
            await asyncio.sleep(0.005)
        assert ops.signal("feed-job1", "data") == 1
        assert await asyncio.wait_for(instance, HANG) == "job1 got data"


@pytest.mark.asyncio
async def test_a_coroutine_called_by_a_request_is_cancelled_when_the_client_goes() -> None:
    cleaned = asyncio.get_running_loop().create_future()

    @coroutine
    def long_poll() -> Coro:
        try:
            yield WaitForSignal("never-for-the-request")
        finally:
            cleaned.set_result("closed")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Coro:
        start_response("200 OK", [])
        yield environ["cogen.call"](long_poll)()
        yield b"unreachable"

    server = cogen_aio.Server(app, port=0, access_log=False)
    [(host, port)] = await server.start()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")  # headers go out at the park point
        writer.close()
        assert await asyncio.wait_for(cleaned, HANG) == "closed"
    finally:
        await server.shutdown()
