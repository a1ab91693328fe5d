"""The two-way bridge between WSGI requests, cogen coroutines, asyncio code and threads, through the
real server. The scripts are the code blocks of docs/asyncio.md, run as they are; each one's
``main()`` result must be what its ``print`` comment in the document says."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

import cogen_aio
import cogen_aio.compat
from cogen_aio.coroutines import coroutine, spawn
from cogen_aio.ops import OperationTimeout, WaitForSignal
from cogen_aio.pubsub import PublishSubscribeQueue

DOC = Path(__file__).resolve().parent.parent / "docs" / "asyncio.md"
HANG = 10.0


def doc_scripts() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def promised(script: str) -> Any:
    """The value the script's ``print(asyncio.run(main()))  # ...`` comment promises."""
    match = re.search(r"print\(asyncio\.run\(main\(\)\)\)\s+#\s*(.+)$", script, flags=re.M)
    assert match, "every script prints main()'s result with the expected value as a comment"
    return ast.literal_eval(match.group(1))


@pytest.fixture
def legacy_names() -> Any:
    """Script 3 installs the ``cogen`` alias; leave the process as it was."""
    was = cogen_aio.compat.installed()
    yield
    if not was:
        cogen_aio.compat.uninstall()


def test_the_document_has_the_four_scripts() -> None:
    scripts = doc_scripts()
    assert len(scripts) == 4
    for script in scripts:
        compile(script, str(DOC), "exec")
        assert 'if __name__ == "__main__":' in script


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "index", range(4), ids=["asyncio-publishes", "request-awaits-asyncio",
                            "addcoro-awaited-by-asyncio", "signal-from-a-thread"]
)
async def test_doc_script(index: int, legacy_names: Any) -> None:
    script = doc_scripts()[index]
    namespace: dict[str, Any] = {"__name__": f"docs_asyncio_{index + 1}"}
    exec(compile(script, f"{DOC}:script{index + 1}", "exec"), namespace)
    result = await asyncio.wait_for(namespace["main"](), HANG)
    assert result == promised(script)


# -- the same paths, with what the scripts do not show -------------------------------------------


async def start(app: Any, **settings: Any) -> tuple[cogen_aio.Server, str]:
    settings.setdefault("access_log", False)
    server = cogen_aio.Server(app, port=0, **settings)
    [(host, port)] = await server.start()
    return server, f"{host}:{port}"


async def get(address: str, path: str = "/") -> bytes:
    reader, writer = await asyncio.open_connection(*address.split(":"))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), HANG)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        out = b""
        while body:
            size, _, rest = body.partition(b"\r\n")
            length = int(size, 16)
            if not length:
                break
            out, body = out + rest[:length], rest[length + 2:]
        return out
    return body


async def until_parked(server: cogen_aio.Server, count: int = 1) -> None:
    async def poll() -> None:
        while len(server.parked_operations()) < count:
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), HANG)


@pytest.mark.asyncio
async def test_a_fetch_times_out_into_the_result_and_a_late_reader_gets_history() -> None:
    news = PublishSubscribeQueue()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        key = environ["QUERY_STRING"]
        start_response("200 OK", [])
        yield environ["cogen.call"](news.subscribe)(key)
        yield environ["cogen.call"](news.fetch)(key, timeout=0.05)
        result = environ["cogen.wsgi"].result
        yield type(result).__name__.encode() if isinstance(result, Exception) else b",".join(result)

    server, address = await start(app)
    try:
        assert await get(address, "/?early") == b"OperationTimeout"
        await news.publish(b"one")
        await news.publish(b"two")
        # A new subscriber starts at the oldest retained message (cogen-api.md §9).
        assert await get(address, "/?late") == b"one,two"
    finally:
        await server.shutdown()


@pytest.mark.asyncio
async def test_a_cogen_coroutine_parked_by_a_request_and_one_awaited_by_asyncio_share_a_signal() -> None:
    @coroutine
    def waiter(name: str) -> Any:
        value = yield WaitForSignal(name, timeout=5)
        return value * 2

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        yield environ["cogen.call"](waiter)("shared")  # the request runs the coroutine
        yield environ["cogen.wsgi"].result

    server, address = await start(app)
    try:
        request = asyncio.ensure_future(get(address))
        background = spawn(waiter("shared"))  # asyncio code starts another one
        await until_parked(server)
        while cogen_aio.ops.waiting_count("shared") < 2:
            await asyncio.sleep(0.005)
        assert await cogen_aio.Signal("shared", b"ab") == 2
        assert await request == b"abab"
        assert await background == b"abab"
    finally:
        await server.shutdown()


@pytest.mark.asyncio
async def test_asyncio_code_waiting_on_a_signal_a_request_sends() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        yield environ["cogen.core"].events.Signal("from-request", environ["QUERY_STRING"])
        yield b"woke %d" % environ["cogen.wsgi"].result

    server, address = await start(app)
    try:
        waiting = asyncio.ensure_future(WaitForSignal("from-request", timeout=5))
        await asyncio.sleep(0)
        assert await get(address, "/?hello") == b"woke 1"
        assert await waiting == "hello"
        with pytest.raises(OperationTimeout):
            await WaitForSignal("from-request", timeout=0.01)
    finally:
        await server.shutdown()


def test_a_signal_from_a_thread_before_anyone_waits_is_lost() -> None:
    async def scenario() -> tuple[int, Any]:
        loop = asyncio.get_running_loop()
        woken = await asyncio.wrap_future(
            await asyncio.to_thread(cogen_aio.signal_threadsafe, loop, "nobody", 1)
        )
        try:
            late = await WaitForSignal("nobody", timeout=0.02)
        except OperationTimeout as exc:
            late = exc
        return woken, late

    woken, late = asyncio.run(scenario())
    assert woken == 0 and isinstance(late, OperationTimeout)  # signals are not latched


def test_the_document_mentions_only_public_names() -> None:
    text = DOC.read_text()
    for name in re.findall(r"cogen_aio\.(\w+)", text):
        assert name in {"Server", "compat", "pubsub", "coroutines", "signal_threadsafe", "signal"} | set(
            cogen_aio.__all__
        ), name
