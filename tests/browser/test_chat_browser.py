"""examples/chat in headless Chromium: two people chat, one leaves, the server restarts."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any, Callable

from .conftest import SERVING, ServerProcess, cogen_aio_args, screenshot

APP = "examples.chat.app:app"
VIEWPORT = {"width": 900, "height": 600}


def join(page: Any, url: str, name: str) -> Any:
    page.goto(url)
    page.fill("#name", name)
    page.press("#name", "Enter")
    return page


def say(page: Any, text: str) -> None:
    page.fill("#text", text)  # waits until the input is enabled (the page is live)
    page.press("#text", "Enter")


def who(server: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(server.url + "who", timeout=10) as response:
        return json.load(response)


def track_pulls(page: Any) -> set[Any]:
    """The page's long-polls in flight, as the Network tab shows them."""
    pending: set[Any] = set()
    is_pull: Callable[[Any], bool] = lambda request: "/pull?" in request.url  # noqa: E731
    page.on("request", lambda r: is_pull(r) and pending.add(r))
    page.on("requestfinished", lambda r: pending.discard(r))
    page.on("requestfailed", lambda r: pending.discard(r))
    return pending


def test_two_pages_chat_and_a_page_that_goes_away_stops_being_counted(
    browser: Any, start_server: Callable[..., ServerProcess]
) -> None:
    from playwright.sync_api import expect

    server = start_server(cogen_aio_args(APP), SERVING)
    alice_context = browser.new_context(viewport=VIEWPORT)
    bob_context = browser.new_context(viewport=VIEWPORT)
    alice = alice_context.new_page()
    bob = bob_context.new_page()
    pulls = track_pulls(bob)
    join(alice, server.url, "Alice")
    join(bob, server.url, "Bob")
    for page in (alice, bob):
        expect(page.locator("#present li")).to_have_text(["Alice", "Bob"])
        expect(page.locator("#count")).to_have_text("2")
    expect(bob.locator("#status")).to_have_text("live as Bob")
    expect(bob.locator("#messages li.event")).to_have_text([re.compile("Alice joined"),
                                                             re.compile("Bob joined")])

    conversation = [
        (alice, "Hi Bob! Is this reaching you right away?"),
        (bob, "Instantly. My browser has a pull parked on the server until you type."),
        (alice, "No websockets and no thread per client: one suspended WSGI generator each."),
        (bob, "And what we type is escaped: <b>this is not bold</b> & <i>nor this</i>"),
        (alice, "Now close your window and watch the list on the right."),
    ]
    for speaker, text in conversation:
        listener = bob if speaker is alice else alice
        started = time.monotonic()
        say(speaker, text)
        expect(listener.locator("#messages li.msg .text").last).to_have_text(text, timeout=1000)
        seen_after = time.monotonic() - started
        assert seen_after < 1.0, f"{text!r} took {seen_after:.3f} s to reach the other page"
        # The sender's own line comes back through its pull too, marked as its own.
        expect(speaker.locator("#messages li.msg.mine .text").last).to_have_text(text)
    assert alice.locator("#messages b, #messages i").count() == 0  # shown as text, not markup
    # Between messages each page has exactly one long-poll waiting on the server.
    bob.wait_for_timeout(300)
    assert len(pulls) == 1 and who(server) == {"count": 2, "present": ["Alice", "Bob"]}
    screenshot(bob, "chat.png")

    # Alice closes her window: her parked pull's connection closes, and after a short grace
    # period she is no longer counted.
    alice_context.close()
    expect(bob.locator("#present li")).to_have_text(["Bob"], timeout=10_000)
    expect(bob.locator("#count")).to_have_text("1")
    expect(bob.locator("#messages li.event").last).to_have_text(re.compile("Alice left"))
    assert who(server) == {"count": 1, "present": ["Bob"]}
    bob_context.close()
    assert "Traceback" not in server.log(), server.log()


def test_the_page_reconnects_after_the_server_restarts(
    browser: Any, start_server: Callable[..., ServerProcess]
) -> None:
    from playwright.sync_api import expect

    server = start_server(cogen_aio_args(APP), SERVING)
    context = browser.new_context(viewport=VIEWPORT)
    page = join(context.new_page(), server.url, "Carol")
    say(page, "before the restart")
    expect(page.locator("#messages li.msg .text")).to_have_text(["before the restart"])

    server.stop()  # SIGTERM, as a supervisor restarting it would
    expect(page.locator("#status")).to_have_class(re.compile("restarting|offline"))
    expect(page.locator("#text")).to_be_disabled()
    restarted = start_server(cogen_aio_args(APP, port=server.port), SERVING)
    expect(page.locator("#status")).to_have_text("live as Carol", timeout=15_000)
    expect(page.locator("#messages li.note")).to_have_text(["The server restarted."])
    say(page, "after the restart")
    expect(page.locator("#messages li.msg .text")).to_have_text(
        ["before the restart", "after the restart"]
    )
    assert who(restarted) == {"count": 1, "present": ["Carol"]}

    # A second tab of the same browser is a second participant (same cookie, its own tab id);
    # it remembers the name.
    second = context.new_page()
    second.goto(restarted.url)
    expect(second.locator("#status")).to_have_text("live as Carol")
    expect(page.locator("#count")).to_have_text("2")
    say(second, "from the second tab")
    expect(page.locator("#messages li.msg .text").last).to_have_text("from the second tab")
    context.close()
    for process in (server, restarted):
        assert "Traceback" not in process.log(), process.log()
