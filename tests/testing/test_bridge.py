"""sync_app: a cogen app driven by WebTest."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest
import webtest

from cogen_aio.ops import Call
from cogen_aio.testing import ServerDisconnected, VirtualClock, sync_app

from .apps import StartResponse, app

aio = pytest.mark.asyncio


def test_webtest_drives_a_parking_app() -> None:
    with sync_app(app, clock=True) as wsgi:
        testapp = webtest.TestApp(wsgi)
        assert testapp.get("/sleep").text == "slept"
        reply = testapp.post("/form", {"a": "1"}, extra_environ={"REMOTE_USER": "bob"})
        assert reply.body == b"POST /forma=1"
        assert testapp.get("/wait").text == "waiting\ntimeout"
        clock = VirtualClock.of(wsgi.loop)
        assert clock is not None and clock.elapsed == 60.0


def test_sync_app_passes_the_caller_environ_through() -> None:
    def who(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        seen = (environ.get("REMOTE_USER"), environ["QUERY_STRING"], environ.get("HTTP_X_ONE"))
        return [repr(seen).encode()]

    with sync_app(who) as wsgi:
        reply = webtest.TestApp(wsgi).get(
            "/?q=1", headers={"X-One": "1"}, extra_environ={"REMOTE_USER": "ann"}
        )
    assert reply.text == "('ann', 'q=1', '1')"


def test_sync_app_run_reaches_the_private_loop() -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()

    def consumer(environ: dict[str, Any], start_response: StartResponse) -> Iterator[Any]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield Call(queue.get)
        yield environ["cogen.wsgi"].result.encode()

    with sync_app(consumer) as wsgi:
        wsgi.run(queue.put("queued"))
        assert webtest.TestApp(wsgi).get("/").text == "queued"


def test_sync_app_raises_the_app_errors() -> None:
    def broken(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b""
        raise LookupError("late")

    def early(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        raise LookupError("early")

    with sync_app(broken) as wsgi, pytest.raises(LookupError, match="late"):
        webtest.TestApp(wsgi).get("/")
    with sync_app(broken, raise_errors=False) as wsgi, pytest.raises(ServerDisconnected):
        webtest.TestApp(wsgi).get("/")  # headers were sent, then the connection was cut
    with sync_app(early, raise_errors=False) as wsgi:
        assert webtest.TestApp(wsgi).get("/", expect_errors=True).status_int == 500


@aio
async def test_sync_app_refuses_a_running_loop() -> None:
    with sync_app(app) as wsgi, pytest.raises(RuntimeError, match="cogen_client"):
        wsgi.run(asyncio.sleep(0))
