"""The request parsers (cogen_aio.parsers) on their own: bytes in, events out.

The protocol-level tests (test_protocol.py, functional/) run once per parser. Here the two
parsers are fed the same bytes, whole and one byte at a time, and must produce the same events
and refuse the same requests with the same status (and, unless a case says otherwise, the same
reason). The few places where they differ on purpose are tested as such, with the reason.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import pytest

from cogen_aio import parsers
from cogen_aio.config import Config, ConfigError
from cogen_aio.parsers import parser_class

needs_httptools = pytest.mark.skipif(
    importlib.util.find_spec("httptools") is None,
    reason="httptools is not installed (pip install cogen_aio[fast])",
)

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def run(
    name: str,
    data: bytes,
    *,
    max_head: int = 16384,
    split: int | None = None,
    eof: bool = False,
    cycle: bool = True,
) -> list[Any]:
    """Feed ``data`` (in pieces of ``split`` bytes) and record the events, normalised.

    ``cycle``: start the next request as soon as one is complete, as the protocol does once the
    app has answered; otherwise what is buffered behind it shows as ``("paused", bytes)`` once all
    of ``data`` has been received (reading goes on while a request is in flight).
    """
    parser = parser_class(name)(max_head)
    events = parser.events
    out: list[Any] = []
    pieces = [data] if split is None else [data[i : i + split] for i in range(0, len(data), split)]
    if eof:
        pieces.append(b"")
    paused = False
    for piece in pieces:
        parser.receive_data(piece)
        while not paused:
            try:
                event = parser.next_event()
            except parser.errors as exc:
                out.append(("error", *parser.error_reason(exc)))
                return out
            kind = type(event)
            if kind is events.Request:
                problem = parser.check_head()
                if problem is not None:
                    out.append(("error", *problem))
                    return out
                headers = [(bytes(n), bytes(v)) for n, v in event.headers]
                out.append(
                    (
                        "request",
                        bytes(event.method),
                        bytes(event.target),
                        bytes(event.http_version),
                        headers,
                        parser.they_are_waiting_for_100_continue,
                    )
                )
            elif kind is events.Data:
                if out and out[-1][0] == "data":
                    out[-1] = ("data", out[-1][1] + bytes(event.data))
                else:
                    out.append(("data", bytes(event.data)))
            elif kind is events.EndOfMessage:
                out.append(("end", parser.message_complete))
                if cycle and parser.message_complete:
                    parser, _ = parser.next_cycle()
            elif event is events.NEED_DATA:
                break
            elif event is events.PAUSED:
                paused = True
            elif kind is events.ConnectionClosed:
                out.append(("closed",))
                return out
            else:  # pragma: no cover
                raise AssertionError(event)
    out.append(("paused" if paused else "need", parser.buffered()))
    return out


def run_both(data: bytes, **kwargs: Any) -> tuple[list[Any], list[Any]]:
    return run("h11", data, **kwargs), run("httptools", data, **kwargs)


def chunked(body: bytes, headers: bytes = b"") -> bytes:
    head = b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n" + headers
    return head + b"\r\n" + body


ACCEPTED = {
    "get": GET,
    "header-whitespace": b"GET / HTTP/1.1\r\nHost: a\r\nX-A:  b \t\r\nX-Empty:\r\n\r\n",
    "names-lowercased": b"GET / HTTP/1.1\r\nHOST: a\r\nX-Mixed-Case: V\r\n\r\n",
    "obs-text": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n",
    "content-length": b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "content-length-zero": b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
    "content-length-leading-zeros": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n"
    b"\r\nabc",
    "chunked": chunked(b"5\r\nhello\r\n6;a=b;c\r\n world\r\n0\r\n\r\n"),
    "chunked-trailers": chunked(b"1\r\nx\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"),
    "chunked-uppercase-hex": chunked(b"A\r\n0123456789\r\n0\r\n\r\n"),
    "chunked-space-after-size": chunked(b"3 \r\nabc\r\n0\r\n\r\n"),
    "chunked-coding-case": chunked(b"0\r\n\r\n").replace(b"chunked", b"Chunked"),
    "pipelined": GET + b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n" + GET,
    "pipelined-bodies": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    + chunked(b"4\r\nGET \r\n0\r\n\r\n")
    + GET,
    "http10": b"GET / HTTP/1.0\r\n\r\n",
    "http10-keep-alive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2,
    "http2-version": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",  # 505 is the protocol's answer
    "absolute-form": b"GET http://example.com/x?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "any-token-method": b"-BLARGH /x HTTP/1.1\r\nHost: a\r\n\r\n"
    b"get /y HTTP/1.1\r\nHost: a\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n  two\r\n\tthree\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: a\nX-A: b\n\n",
    "expect-100": b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
    b"Content-Length: 2\r\n\r\nhi",
    "expect-100-http10": b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    "upgrade": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
    + GET,
    "upgrade-without-connection": b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\n\r\n" + GET,
    "connect": b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "close-then-more": b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n" + GET,
    "incomplete-head": b"GET / HTTP/1.1\r\nHost: a\r\n",
    "incomplete-body": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",
    "incomplete-chunk": chunked(b"a\r\n012"),
    "chunk-line-with-bare-lf": chunked(b"3\nabc\n0\n\n"),  # h11 waits for a CRLF; so does this
    "huge-chunk-size": chunked(b"ffffffffffffffff\r\n" + b"x" * 100),
}

REFUSED = {
    "not-a-request": b"NOT A REQUEST\r\n\r\n",
    "leading-empty-line": b"\r\n" + GET,
    "tls-handshake": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "two-spaces": b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    "lowercase-http": b"GET / http/1.1\r\nHost: a\r\n\r\n",
    "non-ascii-target": b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
    "bare-cr-in-request-line": b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",
    "missing-host": b"GET / HTTP/1.1\r\n\r\n",
    "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
    "space-in-name": b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost: a\r\nName : x\r\n\r\n",
    "no-colon": b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
    "empty-name": b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n",
    "fold-first-line": b"GET / HTTP/1.1\r\n Host: a\r\n\r\n",
    "bare-cr-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n",
    "nul-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n",
    "bel-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x07c\r\n\r\n",
    "del-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n",
    "vertical-tab-in-value": b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x0bc\r\n\r\n",
    "duplicate-cl": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
    b"content-length: 5\r\n\r\nhello",
    "cl-list": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
    "cl-folded": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n ,5\r\n\r\nhello",
    "cl-negative": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n",
    "cl-hex": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n",
    "cl-empty": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
    "cl-21-digits": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 000000000000000000005\r\n\r\n",
    "te-gzip": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    "te-gzip-chunked": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "te-chunked-chunked": b"POST / HTTP/1.1\r\nHost: a\r\n"
    b"Transfer-Encoding: chunked, chunked\r\n\r\n",
    "te-twice": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n",
    "te-identity-with-cl": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n"
    b"Content-Length: 5\r\n\r\nhello",
    "chunk-size-0x": chunked(b"0x5\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-negative": chunked(b"-1\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-space-inside": chunked(b"5 5\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-21-digits": chunked(b"1" * 21 + b"\r\nhello\r\n0\r\n\r\n"),
    "chunk-size-empty": chunked(b"\r\nhello\r\n0\r\n\r\n"),
    "chunk-without-crlf": chunked(b"5\r\nhelloXX0\r\n\r\n"),
    "bad-trailer": chunked(b"0\r\nBad Trailer\r\n\r\n"),
    "trailer-fold-first": chunked(b"0\r\n X: y\r\n\r\n"),
}

def check_same(data: bytes, **kwargs: Any) -> list[Any]:
    h11_events, httptools_events = run_both(data, **kwargs)
    assert httptools_events == h11_events
    return h11_events


@needs_httptools
@pytest.mark.parametrize("name", list(ACCEPTED))
def test_same_events_for_accepted_requests(name: str) -> None:
    data = ACCEPTED[name]
    whole = check_same(data)
    assert not any(event[0] == "error" for event in whole), whole
    # However the bytes are split, the events are the same (pieces of body joined).
    assert check_same(data, split=1) == whole
    assert check_same(data, split=7) == whole


@needs_httptools
@pytest.mark.parametrize("name", list(REFUSED))
def test_same_refusals(name: str) -> None:
    data = REFUSED[name]
    for split in (None, 1):
        h11_events, httptools_events = run_both(data, split=split)
        assert h11_events[-1][0] == "error", h11_events
        assert httptools_events[-1][0] == "error", httptools_events
        assert httptools_events[:-1] == h11_events[:-1]
        assert httptools_events[-1] == h11_events[-1]  # status and reason


@needs_httptools
@pytest.mark.parametrize(
    "data",
    [GET, ACCEPTED["content-length"], ACCEPTED["incomplete-head"], ACCEPTED["incomplete-body"],
     ACCEPTED["incomplete-chunk"], b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"],
    ids=["between-requests", "after-body", "in-head", "in-body", "in-chunk", "after-close"],
)
def test_end_of_input_is_read_the_same(data: bytes) -> None:
    events = check_same(data, eof=True)
    assert events[-1][0] in ("closed", "error")


# -- what the events say ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["h11", pytest.param("httptools", marks=needs_httptools)])
def test_request_event(name: str) -> None:
    events = run(name, ACCEPTED["header-whitespace"] + ACCEPTED["absolute-form"])
    assert events == [
        ("request", b"GET", b"/", b"1.1",
         [(b"host", b"a"), (b"x-a", b"b"), (b"x-empty", b"")], False),
        ("end", True),
        ("request", b"GET", b"http://example.com/x?q=1", b"1.1", [(b"host", b"other")], False),
        ("end", True),
        ("need", 0),
    ]


@pytest.mark.parametrize("name", ["h11", pytest.param("httptools", marks=needs_httptools)])
def test_chunked_body_is_decoded_and_trailers_dropped(name: str) -> None:
    events = run(name, ACCEPTED["chunked"] + ACCEPTED["chunked-trailers"])
    assert [e for e in events if e[0] in ("data", "end")] == [
        ("data", b"hello world"), ("end", True), ("data", b"x"), ("end", True)
    ]


@pytest.mark.parametrize("name", ["h11", pytest.param("httptools", marks=needs_httptools)])
def test_pipelined_request_waits_unparsed(name: str) -> None:
    """PAUSED once the request is complete: the next one is buffered, not parsed, and
    ``buffered`` counts its bytes exactly (the protocol's PIPELINE_BUFFER rule)."""
    second = b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HT"
    events = run(name, GET + second, cycle=False)
    assert events[-1] == ("paused", len(second))
    parser = parser_class(name)(16384)
    parser.receive_data(GET + second)
    assert type(parser.next_event()) is parser.events.Request
    assert type(parser.next_event()) is parser.events.EndOfMessage
    assert parser.message_complete and not parser.receiving_body
    parser, started = parser.next_cycle()
    assert started
    request = parser.next_event()
    assert request.target == b"/2"


@pytest.mark.parametrize("name", ["h11", pytest.param("httptools", marks=needs_httptools)])
def test_receiving_body_and_complete(name: str) -> None:
    parser = parser_class(name)(16384)
    parser.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab")
    assert type(parser.next_event()) is parser.events.Request
    assert parser.receiving_body and not parser.message_complete
    assert parser.next_event().data == b"ab"
    assert parser.next_event() is parser.events.NEED_DATA
    parser.receive_data(b"cd")
    assert parser.next_event().data == b"cd"
    assert type(parser.next_event()) is parser.events.EndOfMessage
    assert parser.message_complete and not parser.receiving_body
    assert parser.next_event() is parser.events.NEED_DATA


@pytest.mark.parametrize("name", ["h11", pytest.param("httptools", marks=needs_httptools)])
def test_waiting_for_100_continue_until_the_body_starts(name: str) -> None:
    parser = parser_class(name)(16384)
    parser.receive_data(ACCEPTED["expect-100"][:-2])
    parser.next_event()
    assert parser.they_are_waiting_for_100_continue
    assert parser.next_event() is parser.events.NEED_DATA
    assert parser.they_are_waiting_for_100_continue
    parser.receive_data(b"h")
    parser.next_event()
    assert not parser.they_are_waiting_for_100_continue


@pytest.mark.parametrize("name", ["h11", pytest.param("httptools", marks=needs_httptools)])
def test_upgrade_offer_stops_reading(name: str) -> None:
    """No protocol switch is offered back (the app answers as to any request); like h11, the
    parser reads nothing after such a request, and the protocol closes after the response."""
    events = run(name, ACCEPTED["upgrade"])
    assert events[-2:] == [("end", False), ("paused", len(GET))]


@pytest.mark.parametrize("name", ["h11", pytest.param("httptools", marks=needs_httptools)])
def test_data_after_a_final_request_is_an_error_while_it_is_in_flight(name: str) -> None:
    """h11's rule (Connection: close, or HTTP/1.0 without a next cycle): the protocol turns it
    into a close after the response. Once the response is done the next cycle reads on, which is
    how an HTTP/1.0 keep-alive connection goes on."""
    events = run(name, ACCEPTED["close-then-more"], cycle=False)
    assert events[-1] == ("error", 400, "Got data when expecting EOF")
    events = run(name, ACCEPTED["http10-keep-alive"], cycle=True)
    assert [e[0] for e in events] == ["request", "end", "request", "end", "need"]


@pytest.mark.parametrize("name", ["h11", pytest.param("httptools", marks=needs_httptools)])
def test_set_aside_keeps_what_arrives_for_the_next_cycle(name: str) -> None:
    """While a response is pending (a parked long-poll) the parser may be replaced by a smaller
    stand-in; what the client sends meanwhile (a pipelined request, in pieces) is buffered
    unparsed, counted, and parsed by the next cycle's parser."""
    parser = parser_class(name)(16384)
    parser.receive_data(GET + b"GET /2 HT")
    assert type(parser.next_event()) is parser.events.Request
    assert type(parser.next_event()) is parser.events.EndOfMessage
    aside = parser.set_aside()
    if name == "h11":
        assert isinstance(aside, parsers.Answering)  # h11's state is dropped
    assert aside.message_complete and not aside.receiving_body
    assert not aside.they_are_waiting_for_100_continue
    assert aside.next_event() is parser.events.PAUSED and aside.buffered() == 9
    aside.receive_data(b"TP/1.1\r\nHost: a\r\n\r\n")
    assert aside.set_aside() is aside and aside.buffered() == 28
    parser, started = aside.next_cycle()
    assert started
    request = parser.next_event()
    assert request.target == b"/2"
    assert type(parser.next_event()) is parser.events.EndOfMessage


@pytest.mark.parametrize("name", ["h11", pytest.param("httptools", marks=needs_httptools)])
def test_set_aside_with_nothing_buffered_then_the_client_closes(name: str) -> None:
    parser = parser_class(name)(16384)
    parser.receive_data(GET)
    parser.next_event()
    parser.next_event()
    aside = parser.set_aside()
    assert aside.next_event() is parser.events.NEED_DATA and aside.buffered() == 0
    aside.receive_data(b"")
    parser, pending = aside.next_cycle()
    assert pending  # the close is there to be read
    assert type(parser.next_event()) is parser.events.ConnectionClosed


def test_a_final_request_keeps_its_parser_to_refuse_what_follows() -> None:
    """After ``Connection: close`` h11 refuses further bytes; the stand-in would not."""
    parser = parser_class("h11")(16384)
    parser.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    parser.next_event()
    parser.next_event()
    assert parser.set_aside() is parser


# -- limits --------------------------------------------------------------------------------------


@needs_httptools
@pytest.mark.parametrize("split", [None, 10])
@pytest.mark.parametrize(
    "data, status",
    [
        (b"GET /" + b"a" * 200, 414),  # incomplete, the request line alone is too long
        (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),  # complete
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 200, 431),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 200 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 30 + b"\r\n", 431),
    ],
    ids=["line-incomplete", "line-complete", "headers-incomplete", "headers-complete", "many"],
)
def test_head_size_limit(data: bytes, status: int, split: int | None) -> None:
    h11_events, httptools_events = run_both(data, max_head=128, split=split)
    assert h11_events[-1][:2] == httptools_events[-1][:2] == ("error", status)


@needs_httptools
def test_head_exactly_at_the_limit_is_accepted() -> None:
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: "
    head += b"p" * (128 - len(head) - 4) + b"\r\n\r\n"
    assert len(head) == 128
    events = check_same(head, max_head=128)
    assert events[0][0] == "request"
    longer = head[:-4] + b"p\r\n\r\n"
    assert check_same(longer, max_head=128)[-1][:2] == ("error", 431)


@needs_httptools
def test_long_chunk_line_is_refused() -> None:
    data = chunked(b"5;" + b"e" * 200)
    h11_events, httptools_events = run_both(data, max_head=128)
    assert h11_events[-1] == httptools_events[-1] == ("error", 400, "chunk line too long")


@needs_httptools
def test_content_length_beyond_64_bits() -> None:
    """Both refuse it, with different statuses: h11 reads any 20 digits as a number, which the
    protocol answers with 413 (over the body limit); llhttp cannot hold it, so httptools answers
    400 (RFC 9110 §8.6: a recipient must not let such a value overflow; refusing it does not)."""
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"
    assert run("h11", data)[0][0] == "request"
    assert run("httptools", data)[-1] == ("error", 400, "bad Content-Length")


# -- the setting --------------------------------------------------------------------------------


def test_http_setting_choices() -> None:
    assert Config().http == "h11"
    assert Config(http="H11").http == "h11"
    with pytest.raises(ConfigError) as info:
        Config(http="spdy")
    assert str(info.value) == "http: expected one of h11, httptools, got 'spdy'"


@needs_httptools
def test_http_setting_httptools() -> None:
    assert Config(http="httptools").http == "httptools"


def test_http_setting_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "httptools" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError) as info:
        Config(http="httptools")
    assert str(info.value) == "http: httptools is not installed (pip install cogen_aio[fast])"
    assert parsers.missing_requirement("h11") is None


def test_the_default_parser_does_not_import_httptools() -> None:
    code = (
        "import sys, asyncio\n"
        "from cogen_aio.config import Config\n"
        "from cogen_aio.server import ServerState\n"
        "from cogen_aio.protocol import HttpProtocol\n"
        "state = ServerState(None, Config(), asyncio.new_event_loop())\n"
        "HttpProtocol(state)\n"
        "assert 'httptools' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
