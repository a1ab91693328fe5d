"""examples/irc: the relay against the tiny IRC server, both on the test's loop, over loopback.

The browser version of the workflow is tests/browser/test_irc_browser.py.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio

from cogen_aio.testing import Client, wait_until

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.irc import app as irc  # noqa: E402
from examples.irc.ircd import IrcServer  # noqa: E402

aio = pytest.mark.asyncio
HANG = 10


# -- the pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "line"),
    [
        (["PRIVMSG", "#cogen", "hello, with spaces"], b"PRIVMSG #cogen :hello, with spaces\r\n"),
        (["privmsg", "bob", "hi"], b"PRIVMSG bob hi\r\n"),
        (["USER", "ann", "0", "*", "Ann Example"], b"USER ann 0 * :Ann Example\r\n"),
        (["TOPIC", "#cogen", ""], b"TOPIC #cogen :\r\n"),
        (["PRIVMSG", "#cogen", ":-)"], b"PRIVMSG #cogen ::-)\r\n"),
        (["QUIT"], b"QUIT\r\n"),
        (["PRIVMSG", "#cogen", "déjà vu"], "PRIVMSG #cogen :déjà vu\r\n".encode()),
    ],
)
def test_irc_line_puts_the_last_parameter_after_a_colon_when_needed(
    message: list[str], line: bytes
) -> None:
    assert irc.irc_line(message) == line


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (["PRIVMSG", "#cogen", "one\r\nQUIT :smuggled"], "line breaks"),
        (["PRIVMSG", "#cogen", "nul\0"], "line breaks"),
        (["PRIVMSG", "#a b", "text"], "only the last parameter"),
        (["PRIVMSG", "", "text"], "only the last parameter"),
        (["PRIV MSG", "x"], "not an IRC command"),
        ([], "a list of strings"),
        ("PRIVMSG #cogen :hi", "a list of strings"),
        (["PRIVMSG", 1], "a list of strings"),
        (["PRIVMSG", "#cogen", "x" * 600], "longer than 512 bytes"),
    ],
)
def test_irc_line_refuses_what_would_break_the_protocol(message: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        irc.irc_line(message)


def test_parsemsg() -> None:
    assert irc.parsemsg(":a!a@h PRIVMSG #c :hi there") == ("a!a@h", "PRIVMSG", ["#c", "hi there"])
    assert irc.parsemsg("PING :irc.x") == ("", "PING", ["irc.x"])
    assert irc.parsemsg(":s 001 ann :Welcome") == ("s", "001", ["ann", "Welcome"])
    assert irc.parsemsg("join #a") == ("", "JOIN", ["#a"])
    with pytest.raises(ValueError):
        irc.parsemsg("")


def test_parse_server() -> None:
    assert irc.parse_server("127.0.0.1:6697") == ("127.0.0.1", 6697)
    assert irc.parse_server("localhost") == ("localhost", 6667)
    assert irc.parse_server("[::1]:7000") == ("::1", 7000)
    for bad in ("", "a b:1", "host:0", "host:99999", "host:port"):
        with pytest.raises(ValueError):
            irc.parse_server(bad)


# -- end to end ----------------------------------------------------------------------------------


class Page:
    """What the page does over HTTP: keeps its session cookie, connects, pulls, pushes."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.cookie: str | None = None
        self.id = ""
        self.events: list[list[Any]] = []

    def headers(self) -> list[tuple[str, str]]:
        return [("Cookie", f"{irc.COOKIE}={self.cookie}")] if self.cookie else []

    async def connect(self, server: str) -> Any:
        response = await self.client.post("/connect", form={"server": server},
                                          headers=self.headers())
        for value in response.headers.getall("set-cookie"):
            name, _, rest = value.partition("=")
            if name == irc.COOKIE:
                self.cookie = rest.split(";")[0]
        if response.status == 200:
            self.id = response.json()["id"]
        return response

    async def pull(self) -> Any:
        response = await self.client.get(f"/pull/{self.id}", headers=self.headers())
        if response.status == 200:
            self.events += response.json()
        return response

    async def push(self, *messages: list[str]) -> Any:
        return await self.client.post(f"/push/{self.id}", json=list(messages),
                                      headers=self.headers())

    async def pull_until(self, command: str) -> list[Any]:
        """Pull until an event with ``command`` arrives; returns it."""
        for _ in range(50):
            for event in self.events:
                if event[1] == command:
                    self.events.remove(event)
                    return event
            response = await self.pull()
            assert response.status == 200, (response.status, response.text)
        raise AssertionError(f"no {command} event in {self.events}")

    def commands(self) -> list[str]:
        return [event[1] for event in self.events]


class Peer:
    """Another IRC user, on a plain asyncio connection to the IRC server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def register(cls, ircd: IrcServer, nick: str, channel: str) -> Peer:
        peer = cls(*await asyncio.open_connection("127.0.0.1", ircd.port))
        peer.send(f"NICK {nick}", f"USER {nick} 0 * :{nick.title()}", f"JOIN {channel}")
        await peer.expect(" 366 ")
        return peer

    def send(self, *lines: str) -> None:
        for line in lines:
            self.writer.write(line.encode() + b"\r\n")

    async def expect(self, needle: str) -> str:
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), HANG)).decode()
            if not line:
                raise AssertionError(f"connection closed before {needle!r}")
            if line.startswith("PING"):
                self.send("PONG" + line[4:].rstrip())
            if needle in line:
                return line.rstrip("\r\n")

    def close(self) -> None:
        self.writer.close()


@pytest_asyncio.fixture
async def ircd() -> AsyncIterator[IrcServer]:
    server = await IrcServer().start()
    yield server
    await server.close()


@pytest.fixture
def relay() -> irc.Relay:
    return irc.Relay(secret="test", allowed="127.0.0.1")


@aio
async def test_connect_welcome_join_privmsg_with_spaces_and_the_server_going_away(
    cogen_client: Any, ircd: IrcServer, relay: irc.Relay
) -> None:
    page = Page(await cogen_client(relay))
    assert (await page.connect(ircd.address)).status == 200
    assert (await page.pull_until("CONNECTING"))[2] == [ircd.address]
    await page.pull_until("CONNECTED")

    pushed = await page.push(["USER", "ann", "0", "*", "Ann Example"], ["NICK", "ann"])
    assert pushed.json() == [["", "PUSH_OK", []], ["", "PUSH_OK", []]]
    welcome = await page.pull_until("WELCOME")
    assert welcome == [
        "irc.cogen.test", "WELCOME", ["ann", "Welcome to the cogen test network, ann"]
    ]
    await page.pull_until("ENDOFMOTD")
    assert {"YOURHOST", "CREATED", "MYINFO", "MOTDSTART", "MOTD"} <= set(page.commands())
    # The server's PING was answered by the relay, and never reached the page.
    await wait_until(lambda: [c.pongs for c in ircd.clients] == [["irc.cogen.test"]])
    assert "PING" not in page.commands()

    bob = await Peer.register(ircd, "bob", "#cogen")
    await page.push(["JOIN", "#cogen"])
    assert (await page.pull_until("JOIN"))[:2] == ["ann!ann@127.0.0.1", "JOIN"]
    assert (await page.pull_until("NAMREPLY"))[2] == ["ann", "=", "#cogen", "ann bob"]
    await bob.expect("ann!ann@127.0.0.1 JOIN #cogen")

    # A sentence: the original refused any parameter with a space in it.
    text = "hello bob, this message has spaces in it"
    assert (await page.push(["PRIVMSG", "#cogen", text])).json() == [["", "PUSH_OK", []]]
    assert await bob.expect("PRIVMSG") == f":ann!ann@127.0.0.1 PRIVMSG #cogen :{text}"
    assert ("ann", f"PRIVMSG #cogen :{text}") in ircd.received
    echo = await page.pull_until("PRIVMSG")
    assert echo == ["ann!ann@127.0.0.1", "PRIVMSG", ["#cogen", text]]

    bob.send("PRIVMSG #cogen :hi ann, welcome!")
    assert (await page.pull_until("PRIVMSG"))[2] == ["#cogen", "hi ann, welcome!"]

    await ircd.close()  # the server goes away
    assert await page.pull_until("ERROR") == ["", "ERROR", ["the server closed the connection"]]
    gone = await page.pull()
    assert gone.status == 410
    assert gone.json() == [["", "ERROR", ["the server closed the connection"]]]
    assert (await page.push(["PRIVMSG", "#cogen", "anyone?"])).status == 410
    bob.close()


@aio
async def test_a_pull_waits_for_the_next_event_then_answers_nothing(
    cogen_client: Any, ircd: IrcServer, relay: irc.Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(irc, "PULL_TIMEOUT", 0.3)
    client = await cogen_client(relay)
    page = Page(client)
    await page.connect(ircd.address)
    await page.pull_until("CONNECTED")
    page.events.clear()
    pull = asyncio.ensure_future(page.pull())
    await client.server.wait_parked()
    await page.push(["NICK", "ann"], ["USER", "ann", "0", "*", "Ann"])
    assert (await pull).json()[0][1] == "WELCOME"  # woken by the first event
    await page.pull_until("ENDOFMOTD")
    loop = asyncio.get_running_loop()
    start = loop.time()
    empty = await page.pull()
    assert empty.json() == [] and loop.time() - start >= 0.3


@aio
async def test_pushes_that_are_refused(
    cogen_client: Any, ircd: IrcServer, relay: irc.Relay
) -> None:
    client = await cogen_client(relay)
    page = Page(client)
    await page.connect(ircd.address)
    await page.pull_until("CONNECTED")
    bad_json = await client.post(f"/push/{page.id}", body=b"[", headers=page.headers())
    assert bad_json.status == 400 and bad_json.json()[0][1] == "ERROR"
    smuggled = await page.push(["PRIVMSG", "#cogen", "hi\r\nQUIT"])
    assert smuggled.status == 400
    assert smuggled.json() == [["", "ERROR", ["line breaks are not allowed in a message"]]]
    not_a_list = await client.post(f"/push/{page.id}", json={"a": 1}, headers=page.headers())
    assert not_a_list.status == 400
    # Nothing of it reached the server.
    await page.push(["NICK", "ann"])
    await wait_until(lambda: ircd.received)
    assert ircd.received == [("*", "NICK ann")]
    # Another browser (another session cookie) cannot use this connection.
    other = Page(client)
    other.id = page.id
    assert (await other.pull()).status == 404
    assert (await other.push(["QUIT"])).status == 404
    assert (await Page(client).pull()).status == 404  # no id at all


@aio
async def test_connections_the_relay_refuses_or_cannot_make(
    cogen_client: Any, ircd: IrcServer, relay: irc.Relay
) -> None:
    client = await cogen_client(relay)
    page = Page(client)
    forbidden = await page.connect("irc.example.org:6667")
    assert forbidden.status == 403 and "IRC_SERVERS" in forbidden.json()["error"]
    assert (await page.connect("not a server")).status == 400
    # A port nobody listens on: the connection's coroutine says so, then it is over.
    await ircd.close()
    assert (await page.connect(ircd.address)).status == 200
    error = await page.pull_until("ERROR")
    assert error[2][0].startswith(f"cannot connect to {ircd.address}")
    assert (await page.pull()).status == 410


@aio
async def test_the_default_servers_are_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IRC_SERVERS", raising=False)
    assert irc.Relay().allowed == {"127.0.0.1", "localhost", "::1"}
    monkeypatch.setenv("IRC_SERVERS", "*")
    assert irc.Relay().allowed == {"*"}


@aio
async def test_a_connection_nobody_pulls_is_closed_then_forgotten(
    cogen_client: Any, ircd: IrcServer, relay: irc.Relay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(irc, "IDLE", 0.2)
    monkeypatch.setattr(irc, "LINGER", 0.3)
    client = await cogen_client(relay)
    page = Page(client)
    await page.connect(ircd.address)
    await page.pull_until("CONNECTED")
    [conn] = relay.connections.values()
    await wait_until(lambda: conn.finished)
    assert conn.reason == "nobody pulled for 0.2 s"
    await wait_until(lambda: not ircd.clients)  # the IRC server saw it go
    assert await page.pull_until("ERROR") == ["", "ERROR", ["nobody pulled for 0.2 s"]]
    await wait_until(lambda: not relay.connections)
    assert (await page.pull()).status == 404


@aio
async def test_the_page_is_served(cogen_client: Any, relay: irc.Relay) -> None:
    client = await cogen_client(relay)
    page = await client.get("/")
    assert page.status == 200 and "<title>cogen IRC relay</title>" in page.text
    assert (await client.get("/connect")).status == 405
    assert (await client.get("/nowhere")).status == 404
    assert (await client.get("/pull")).status == 404
