"""examples/irc in headless Chromium: the page, the relay and the tiny IRC server, end to end."""

from __future__ import annotations

import re
import socket
from typing import Any, Callable

from .conftest import SERVING, ServerProcess, cogen_aio_args, screenshot

IRCD = r"IRC server on 127\.0\.0\.1:(\d+)"
VIEWPORT = {"width": 1000, "height": 600}


class IrcUser:
    """Somebody else on the IRC server, with a plain blocking socket."""

    def __init__(self, port: int, nick: str, channel: str) -> None:
        self.nick = nick
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rwb")
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick.title()}", f"JOIN {channel}")
        self.expect(" 366 ")

    def send(self, *lines: str) -> None:
        for line in lines:
            self.file.write(line.encode() + b"\r\n")
        self.file.flush()

    def expect(self, needle: str) -> str:
        while True:
            line = self.file.readline().decode()
            if not line:
                raise AssertionError(f"{self.nick}: connection closed before {needle!r}")
            if line.startswith("PING"):
                self.send("PONG" + line[4:].rstrip())
            if needle in line:
                return line.rstrip("\r\n")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_connect_join_talk_and_see_the_server_go_away(
    browser: Any, start_server: Callable[..., ServerProcess]
) -> None:
    from playwright.sync_api import expect

    ircd = start_server(["-m", "examples.irc.ircd", "--port", "0"], IRCD)
    relay = start_server(cogen_aio_args("examples.irc.app:app"), SERVING)
    bob = IrcUser(ircd.port, "bob", "#cogen")
    bob.send("TOPIC #cogen :cogen_aio demo: a web IRC client on a WSGI long-poll relay")

    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(relay.url)
    page.fill("#server", f"127.0.0.1:{ircd.port}")
    page.fill("#nick", "alice")
    page.click("#connect button")

    # The welcome lines, the channel, its topic and who is in it.
    expect(page.locator("#server-log")).to_contain_text("Welcome to the cogen test network, alice")
    expect(page.locator("#server-log")).to_contain_text("End of /MOTD command")
    expect(page.locator("#status")).to_have_text("live as alice")
    expect(page.locator("#users li")).to_have_text(["alice", "bob"])
    expect(page.locator("#topic")).to_have_text(re.compile("a web IRC client"))
    expect(page.locator("#channel li.event").first).to_have_text(re.compile("You joined #cogen"))
    bob.expect("alice!alice@127.0.0.1 JOIN #cogen")

    bob.send("PRIVMSG #cogen :hi alice, welcome to #cogen!")
    last = page.locator("#channel li.msg .text").last
    expect(last).to_have_text("hi alice, welcome to #cogen!")

    # A sentence with spaces (the original relay refused any): it reaches bob whole, and the
    # server's echo marks it as delivered on the page.
    text = "hello bob, this sentence has spaces in it"
    page.fill("#line", text)
    page.press("#line", "Enter")
    line = f":alice!alice@127.0.0.1 PRIVMSG #cogen :{text}"
    assert bob.expect(":alice!alice@127.0.0.1 PRIVMSG") == line
    mine = page.locator("#channel li.msg.mine").last
    expect(mine).to_have_class(re.compile(r"\bechoed\b"))
    expect(mine.locator(".text")).to_have_text(text)

    carol = IrcUser(ircd.port, "carol", "#cogen")
    expect(page.locator("#users li")).to_have_text(["alice", "bob", "carol"])
    carol.send("PRIVMSG #cogen :hey both. is that page talking to the server over plain HTTP?")
    expect(last).to_have_text(re.compile("over plain HTTP"))
    page.fill("#line", "yes: each pull waits up to 30 s for the next event, pushes are POSTs")
    page.press("#line", "Enter")
    carol.expect("each pull waits")
    bob.send("PRIVMSG #cogen :and the relay answers the server's PINGs: idle tabs stay connected")
    expect(last).to_have_text(re.compile("idle tabs stay connected"))
    expect(page.locator("#channel li.msg.mine.echoed")).to_have_count(2)
    screenshot(page, "irc.png")

    # The IRC server goes away: the relay's coroutine reports it as an ERROR event.
    ircd.stop()
    expect(page.locator("#channel li.error").last).to_have_text(
        re.compile("Disconnected: the server closed the connection")
    )
    expect(page.locator("#status")).to_have_text("disconnected")
    context.close()
    for user in (bob, carol):
        user.close()
    assert "Traceback" not in relay.log(), relay.log()
