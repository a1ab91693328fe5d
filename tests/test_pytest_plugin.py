"""The pytest plugin, tested the way its users meet it: throwaway projects run by pytester.

The projects use nothing but cogen_aio's fixtures and pytest-asyncio (no conftest of their own);
each run is a subprocess, so every run loads the plugin through its entry point as a user's
pytest would.
"""

from __future__ import annotations

import os
import re
import textwrap

import pytest

pytest_plugins = ["pytester"]

CHAT = '''
"""A long-poll chat: GET /poll waits up to 30 s for the next message, POST /say publishes."""

closed = []


def app(environ, start_response):
    if environ["PATH_INFO"] == "/say":
        return say(environ, start_response)
    return poll(environ, start_response)


def poll(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        yield b"waiting\\n"
        yield environ["cogen.core"].events.WaitForSignal("chat", timeout=30)
        result = environ["cogen.wsgi"].result
        yield b"timeout" if isinstance(result, Exception) else result
    finally:
        closed.append(environ["QUERY_STRING"])


def say(environ, start_response):
    text = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield environ["cogen.core"].events.Signal("chat", text)
    yield b"delivered to %d" % environ["cogen.wsgi"].result
'''

TEST_CHAT = '''
import asyncio
import time

import pytest

import chat
from cogen_aio.testing import Client

{mark}


class ChatClient(Client):
    async def say(self, text):
        return (await self.post("/say", body=text)).text


@pytest.fixture
def cogen_client_cls():
    return ChatClient


@pytest.fixture
def cogen_app():
    return chat.app


async def test_one_client_parked_another_publishing(cogen_client):
    listener = await cogen_client()
    speaker = await cogen_client(listener.server)
    async with listener.stream("GET", "/poll") as response:
        assert await response.next_chunk() == b"waiting\\n"
        await listener.server.wait_parked()
        assert await speaker.say("hello") == "delivered to 1"
        assert await response.read() == b"hello"


async def test_disconnect_closes_the_generator(cogen_client):
    client = await cogen_client()
    async with client.stream("GET", "/poll?gone") as response:
        await response.next_chunk()
        await client.server.wait_parked()
    await client.server.wait_idle()
    assert "gone" in chat.closed


@pytest.mark.cogen(clock="virtual")
async def test_timeout_on_the_virtual_clock(cogen_client, cogen_clock):
    started = time.monotonic()
    client = await cogen_client()
    reply = await client.get("/poll")
    assert reply.text == "waiting\\ntimeout"
    assert cogen_clock.elapsed == 30
    assert time.monotonic() - started < 5


@pytest.mark.cogen(clock="manual")
async def test_manual_clock(cogen_client, cogen_clock):
    client = await cogen_client()
    poll = asyncio.ensure_future(client.get("/poll"))
    await client.server.wait_parked()
    await cogen_clock.advance(29)
    assert not poll.done()
    await cogen_clock.advance(1)
    assert (await poll).text == "waiting\\ntimeout"


@pytest.mark.cogen(transport="unix")
async def test_httpx_on_a_unix_socket(cogen_httpx):
    client = await cogen_httpx()
    reply = await client.post("/say", content=b"nobody")
    assert reply.text == "delivered to 0"


async def test_fails_with_a_request_parked(cogen_server):
    server = await cogen_server(chat.app, transport="memory")
    conn = await server.connect()
    await conn.send_request("GET", "/poll?abandoned")
    await server.wait_parked()
    assert False, "failing on purpose with a request parked"


async def test_teardown_closed_the_abandoned_request():
    assert "abandoned" in chat.closed
'''

TEST_SHARED = '''
import pytest
import pytest_asyncio

import chat
from cogen_aio.testing import Client, LiveServer


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared():
    async with LiveServer(chat.app, transport="tcp") as server:
        async with Client(server) as client:
            yield client


@pytest.mark.asyncio(loop_scope="module")
async def test_first(shared):
    assert (await shared.post("/say", body=b"x")).text == "delivered to 0"


@pytest.mark.asyncio(loop_scope="module")
async def test_second_sees_the_same_server(shared):
    await shared.post("/say", body=b"y")
    assert shared.server.requests == 2
'''

INI = """
[pytest]
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
{extra}
"""


def chat_project(pytester: pytest.Pytester, mode: str, extra: str = "") -> None:
    pytester.makeini(INI.format(mode=mode, extra=extra))
    pytester.makepyfile(chat=CHAT)
    mark = "pytestmark = pytest.mark.asyncio" if mode == "strict" else ""
    pytester.makepyfile(test_chat=TEST_CHAT.format(mark=mark), test_shared=TEST_SHARED)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers", *args)


@pytest.mark.parametrize("mode", ["strict", "auto"])
def test_long_poll_project(pytester: pytest.Pytester, mode: str) -> None:
    chat_project(pytester, mode)
    result = run(pytester, "-v")
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines(["*test_fails_with_a_request_parked FAILED*"])
    result.stdout.no_fnmatch_line("*PytestWarning*")


def test_long_poll_project_on_uvloop(pytester: pytest.Pytester) -> None:
    pytest.importorskip("uvloop")
    chat_project(pytester, "strict", "cogen_aio_loops = uvloop")
    result = run(pytester, "-v", "-rs")
    # The virtual clock needs asyncio's pure-Python loop: those two tests skip, and say why.
    result.assert_outcomes(passed=6, failed=1, skipped=2)
    result.stdout.fnmatch_lines(["cogen_aio loops: uvloop", "*not uvloop.Loop*"])


def test_loops_option_runs_each_test_per_loop(pytester: pytest.Pytester) -> None:
    pytest.importorskip("uvloop")
    pytester.makeini(INI.format(mode="auto", extra="cogen_aio_loops = asyncio uvloop virtual"))
    pytester.makepyfile(
        """
        import asyncio

        async def test_loop():
            await asyncio.sleep(3600)  # only the virtual loop makes this quick
        """
    )
    result = run(pytester, "-k", "virtual")
    result.assert_outcomes(passed=1)
    result = run(pytester, "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_loop[[]asyncio[]]", "*test_loop[[]uvloop[]]",
                                 "*test_loop[[]virtual[]]"])


def test_harmless_in_projects_that_do_not_use_it(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import asyncio
        import sys

        import pytest

        def test_nothing_heavy_is_imported():
            assert "cogen_aio.testing" not in sys.modules
            assert "h11" not in sys.modules or "cogen_aio.server" in sys.modules

        @pytest.mark.asyncio
        async def test_plain_asyncio():
            await asyncio.sleep(0)
            assert type(asyncio.get_running_loop()).__module__.startswith("asyncio")
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)
    markers = run(pytester, "--markers")
    markers.stdout.fnmatch_lines(["@pytest.mark.cogen(transport=None, clock=None, **settings)*"])


def test_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(mode="auto", extra=""))
    pytester.makepyfile("async def test_x(cogen_client):\n    pass\n")
    result = run(pytester, "-p", "no:cogen_aio")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'cogen_client' not found*"])


MISSING = "*cogen_aio's fixtures need pytest-asyncio: pip install 'pytest-asyncio>=1.0'*"


def test_clear_message_when_pytest_asyncio_is_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_the_kit(cogen_server):
            pass

        def test_unrelated():
            pass
        """
    )
    result = run(pytester, "-p", "no:asyncio")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([MISSING])


def test_clear_message_when_pytest_asyncio_is_not_installed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    shadow = pytester.mkdir("shadow")
    (shadow / "pytest_asyncio").mkdir()
    (shadow / "pytest_asyncio" / "__init__.py").write_text("raise ImportError('not installed')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    pytester.makepyfile(
        """
        def test_uses_the_kit(cogen_client):
            pass

        def test_unrelated():
            pass
        """
    )
    result = run(pytester, "-p", "no:asyncio")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([MISSING])


def test_marker_mistakes_are_reported(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(mode="auto", extra=""))
    pytester.makepyfile(
        textwrap.dedent(
            """
            import pytest

            def app(environ, start_response):
                start_response("200 OK", [])
                return [b"ok"]

            @pytest.mark.cogen(clock="sundial")
            async def test_bad_clock(cogen_server):
                pass

            @pytest.mark.cogen(clock="virtual")
            async def test_tcp_under_a_virtual_clock(cogen_server):
                await cogen_server(app, transport="tcp")

            @pytest.mark.cogen(timeout_keep_alive="soon")
            async def test_bad_setting(cogen_server):
                await cogen_server(app)

            async def test_no_app(cogen_client):
                await cogen_client()

            @pytest.mark.asyncio(loop_scope="module")
            async def test_other_loop(cogen_client):
                await cogen_client(app)
            """
        )
    )
    result = run(pytester, "-rfE")
    result.assert_outcomes(failed=4, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*mark.cogen clock must be one of*",
            "*real sockets make virtual time unsound*",
            "*timeout_keep_alive: *",
            "*pass an app, or define a cogen_app fixture*",
            "*cogen_server was set up in another event loop than this test runs in*",
        ],
        consecutive=False,
    )


# -- docs/testing.md: its examples, run as a user would copy them -------------------------------

DOC = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "testing.md")


def doc_blocks() -> list[str]:
    with open(DOC, encoding="utf-8") as file:
        text = file.read()
    return re.findall(r"```(?:python|ini)\n(.*?)```", text, re.S)


def doc_block(needle: str) -> str:
    [block] = [block for block in doc_blocks() if needle in block]
    return block


def test_the_complete_example_of_the_docs_runs(pytester: pytest.Pytester) -> None:
    for name in ("chat.py", "test_chat.py", "pytest.ini"):
        (pytester.path / name).write_text(doc_block(f"# {name}\n"))
    result = run(pytester, "-v")
    result.assert_outcomes(passed=3)


def test_the_other_examples_of_the_docs_run(pytester: pytest.Pytester) -> None:
    (pytester.path / "chat.py").write_text(doc_block("# chat.py\n"))
    (pytester.path / "pytest.ini").write_text(doc_block("# pytest.ini\n"))
    header = "import asyncio\n\nimport pytest\n\nimport chat\n\npytestmark = pytest.mark.asyncio\n"
    pytester.makepyfile(
        test_marker=header + doc_block("def test_idle_connections_are_closed"),
        test_manual=header + doc_block("def test_not_a_second_early"),
        test_module=doc_block("def test_second_sees_the_same_server"),
        test_webtest=doc_block("def test_poll_times_out"),
        test_subclass=header
        + doc_block("class ChatClient(Client)")
        + "\n\nasync def test_say(cogen_client):\n"
        + "    client = await cogen_client(chat.app)\n"
        + "    assert await client.say('hi') == 'delivered to 0'\n",
    )
    result = run(pytester, "-v")
    result.assert_outcomes(passed=6)
