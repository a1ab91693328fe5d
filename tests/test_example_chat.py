"""examples/chat: the comet chat, driven over HTTP with the testing kit.

The browser version of these checks is tests/browser/test_chat_browser.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from cogen_aio.coroutines import CoroutineInstance
from cogen_aio.testing import Client, wait_until

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.chat import app as chat  # noqa: E402

aio = pytest.mark.asyncio


class Tab:
    """One browser tab: keeps the session cookie it is given, sends its tab id."""

    def __init__(self, client: Client, name: str = "", tab: str = "", cookie: str | None = None):
        self.client = client
        self.name = name
        self.tab = tab
        self.cookie = cookie
        self.seen = 0  # the last message number received

    def headers(self) -> list[tuple[str, str]]:
        return [("Cookie", f"{chat.COOKIE}={self.cookie}")] if self.cookie else []

    def keep(self, response: Any) -> None:
        for value in response.headers.getall("set-cookie"):
            name, _, rest = value.partition("=")
            if name == chat.COOKIE:
                self.cookie = rest.split(";")[0]

    def target(self) -> str:
        return f"/pull?tab={self.tab}&name={urllib.parse.quote(self.name)}"

    async def pull(self, **kwargs: Any) -> dict[str, Any]:
        response = await self.client.get(self.target(), headers=self.headers(), **kwargs)
        assert response.status == 200, response.text
        self.keep(response)
        reply = response.json()
        self.seen = max([self.seen, *(m["seq"] for m in reply["messages"])])
        return reply

    async def catch_up(self, app: chat.Chat) -> list[tuple[str, str, str]]:
        """Pull until every message posted so far was received; returns them."""
        received = []
        while self.seen < app.last_seq:
            received += texts(await self.pull())
        return received

    @contextlib.asynccontextmanager
    async def pulling(self) -> AsyncIterator[Any]:
        async with self.client.stream("GET", self.target(), headers=self.headers()) as response:
            yield response

    async def push(self, text: str | bytes) -> Any:
        return await self.client.post(f"/push?tab={self.tab}", body=text, headers=self.headers())

    async def join(self) -> dict[str, Any]:
        reply = await self.pull()
        assert reply["joined"] == self.name
        return reply


def texts(reply: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(m["kind"], m["name_html"], m["text_html"]) for m in reply["messages"]]


@aio
async def test_the_page_and_the_who_endpoint(cogen_client: Any) -> None:
    client = await cogen_client(chat.Chat())
    page = await client.get("/")
    assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>cogen chat</title>" in page.text
    assert 'fetch(url, { cache: "no-store" })' in page.text
    who = await client.get("/who")
    assert who.json() == {"count": 0, "present": []}
    assert (await client.get("/nowhere")).status == 404
    wrong = await client.get("/push")
    assert wrong.status == 405 and wrong.headers["allow"] == "POST"
    assert (await client.head("/")).status == 200


@aio
async def test_the_first_pull_joins_with_a_signed_cookie_and_starts_a_watcher(
    cogen_client: Any,
) -> None:
    app = chat.Chat(secret="s3cret")
    client = await cogen_client(app)
    ann = Tab(client, "Ann")
    first = await client.get(ann.target())
    ann.keep(first)
    assert first.json() == {
        "joined": "Ann", "server": app.boot, "messages": [], "present": ["Ann"]
    }
    [cookie] = first.headers.getall("set-cookie")
    assert cookie.startswith("chat_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # Signed: the session id inside verifies with the secret, and only with it.
    session = app.cookies.loads(ann.cookie.encode())["sid"]
    with pytest.raises(ValueError):
        chat.Chat(secret="other").cookies.loads(ann.cookie.encode())
    [participant] = app.participants.values()
    assert participant.key == f"{session}:" and participant.name == "Ann"
    assert isinstance(participant.watcher, CoroutineInstance) and participant.watcher.running
    # Its own "joined" line comes through the watcher, on the next pull.
    assert texts(await ann.pull()) == [("join", "Ann", "")]
    assert (await client.get("/who")).json() == {"count": 1, "present": ["Ann"]}


@aio
async def test_a_parked_pull_is_woken_by_a_push_and_text_is_escaped(cogen_client: Any) -> None:
    app = chat.Chat()
    client = await cogen_client(app)
    ann, bob = Tab(client, "Ann"), Tab(client, "<Bob>")
    await ann.join()
    await ann.pull()
    joined = await bob.join()
    assert texts(joined) == [("join", "Ann", "")]  # what was said before Bob came
    assert joined["present"] == ["Ann", "<Bob>"]
    assert texts(await ann.pull()) == [("join", "&lt;Bob&gt;", "")]
    assert texts(await bob.pull()) == [("join", "&lt;Bob&gt;", "")]

    async with ann.pulling() as response:
        await client.server.wait_parked()
        pushed = await bob.push("hi <b>Ann</b> & \"co\"")
        assert pushed.status == 200 and pushed.json() == {"seq": 3}
        heard = json.loads(await response.read())
    [message] = heard["messages"]
    assert message["name_html"] == "&lt;Bob&gt;"
    assert message["text_html"] == "hi &lt;b&gt;Ann&lt;/b&gt; &amp; &quot;co&quot;"
    assert message["mine"] is False and message["kind"] == "say"
    [echo] = (await bob.pull())["messages"]
    assert echo["mine"] is True and echo["seq"] == message["seq"]


@aio
@pytest.mark.cogen(clock="virtual")
async def test_a_pull_returns_nothing_after_10_seconds(cogen_client: Any, cogen_clock: Any) -> None:
    app = chat.Chat()
    client = await cogen_client(app)
    ann = Tab(client, "Ann")
    await ann.join()
    await ann.catch_up(app)
    start = cogen_clock.elapsed
    assert await ann.pull() == {"messages": [], "present": ["Ann"]}
    assert cogen_clock.elapsed - start == chat.PULL_TIMEOUT == 10


@aio
async def test_a_cookie_that_does_not_verify_starts_a_new_participant(cogen_client: Any) -> None:
    app = chat.Chat()
    client = await cogen_client(app)
    ann = Tab(client, "Ann")
    await ann.join()
    genuine = ann.cookie
    assert genuine is not None
    ann.cookie = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")
    again = await ann.pull()
    assert again["joined"] == "Ann" and ann.cookie != genuine
    assert len(app.participants) == 2  # the first one leaves once it stops pulling


@aio
async def test_tabs_of_one_browser_are_separate_participants(cogen_client: Any) -> None:
    app = chat.Chat()
    client = await cogen_client(app)
    first = Tab(client, "Ann", tab="t1")
    await first.join()
    second = Tab(client, "Ann", tab="t2", cookie=first.cookie)
    await second.join()
    assert second.cookie == first.cookie and len(app.participants) == 2
    # Without a tab id (curl, the original's page): one participant per cookie.
    plain = Tab(client, "Ann", cookie=first.cookie)
    await plain.join()
    assert "joined" not in await plain.pull()
    assert len(app.participants) == 3


@aio
async def test_a_participant_that_stops_pulling_dies_and_is_replaced_on_its_next_pull(
    cogen_client: Any,
) -> None:
    app = chat.Chat(grace=60)  # so that only the full queue can end it
    client = await cogen_client(app)
    ann, bob = Tab(client, "Ann"), Tab(client, "Bob")
    await ann.join()
    await ann.catch_up(app)
    await bob.join()
    await bob.catch_up(app)
    [ann_p] = [p for p in app.participants.values() if p.name == "Ann"]
    # Ann never pulls again: every message Bob sends is one more batch in her queue of 10.
    sent = 0
    while not ann_p.gone:
        assert sent <= chat.QUEUE_SIZE + 1, "Ann should be dead by now"
        assert (await bob.push(f"message {sent}")).status == 200
        sent += 1
        await bob.catch_up(app)  # Bob keeps pulling
        expected = min(sent + 1, chat.QUEUE_SIZE)
        await wait_until(lambda n=expected: ann_p.gone or ann_p.messages.qsize() == n)
    assert ann_p.dead and ann_p.messages.full()
    assert sent == chat.QUEUE_SIZE  # her queue held "Bob joined" and nine messages
    assert ann_p.key not in app.participants
    assert (await client.get("/who")).json()["present"] == ["Bob"]
    await wait_until(lambda: app.recent[-1].kind == "leave")
    # Her next pull: a new participant, who gets the recent history with the answer.
    again = await ann.pull()
    assert again["joined"] == "Ann" and again["present"] == ["Bob", "Ann"]
    assert ("leave", "Ann", "stopped reading") in texts(again)
    assert ("say", "Bob", "message 9") in texts(again)


@aio
async def test_a_page_that_goes_away_is_dropped_after_the_grace_period(cogen_client: Any) -> None:
    app = chat.Chat(grace=0.2)
    client = await cogen_client(app)
    ann, bob = Tab(client, "Ann"), Tab(client, "Bob")
    await ann.join()
    await bob.join()
    await ann.catch_up(app)
    await bob.catch_up(app)
    async with ann.pulling():
        await client.server.wait_parked()
        [ann_p] = [p for p in app.participants.values() if p.name == "Ann"]
        assert ann_p.pulls == 1
    # Leaving the block closed the connection: the server closed the parked handler...
    await wait_until(lambda: ann_p.pulls == 0)
    # ...and the watcher noticed that nobody pulls for Ann any more.
    async with bob.pulling() as response:
        heard = json.loads(await response.read())
    assert texts(heard) == [("leave", "Ann", "left")]
    assert heard["present"] == ["Bob"]
    assert (await client.get("/who")).json() == {"count": 1, "present": ["Bob"]}
    assert ann_p.gone and not ann_p.dead and app.pubsub.subscribers.keys() == {
        p.key for p in app.participants.values()
    }


@aio
async def test_pushes_are_checked_and_everything_is_bounded(cogen_client: Any) -> None:
    app = chat.Chat(max_history=40)
    client = await cogen_client(app)
    stranger = Tab(client, "Nobody")
    refused = await stranger.push("hello")
    assert refused.status == 409 and refused.json() == {"error": "not in the chat: pull first"}
    ann = Tab(client, "  A name\tfar   too long for anybody to read  ")
    joined = await ann.pull()
    assert joined["joined"] == "A name far too long for"
    assert (await ann.push("")).status == 400
    assert (await ann.push(b"\xff\xfe")).status == 400
    too_long = await ann.push("x" * (chat.MAX_TEXT + 1))
    assert too_long.status == 413
    assert (await ann.push("line one\r\nline two\x00")).status == 200
    assert (await ann.catch_up(app))[-1] == ("say", joined["joined"], "line one  line two")
    for n in range(100):
        await ann.push(f"message {n}")
        await ann.catch_up(app)
    assert len(app.pubsub.messages) <= 40
    assert len(app.recent) == chat.RECENT
    newcomer = await Tab(client, "Late").pull()
    assert len(newcomer["messages"]) == chat.RECENT
    assert newcomer["messages"][-1]["text_html"] == "message 99"


@aio
async def test_shutdown_answers_parked_pulls_when_the_server_is_asked_to(
    cogen_server: Any, cogen_client: Any
) -> None:
    app = chat.Chat()
    server = await cogen_server(app, wake_parked_on_shutdown=True)
    client = await cogen_client(server)
    ann = Tab(client, "Ann")
    await ann.join()
    await ann.catch_up(app)
    pull = asyncio.ensure_future(ann.pull())
    await server.wait_parked()
    closing = asyncio.ensure_future(server.server.shutdown())
    assert await pull == {"messages": [], "present": ["Ann"], "restarting": True}
    await closing
