"""gunicorn's request corpus (requests/, from its tests/requests) sent over real sockets.

Every ``valid/*.http`` request must reach the app parsed as the expectations below say (written
for this server from the requests themselves); every ``invalid/*.http`` one must be refused with a
4xx/5xx without the app being called.

Adaptations, so that each case tests what it was written for:

- HTTP/1.1 requests without a Host header get ``Host: example.com`` after their request line:
  RFC 9112 §3.2 makes a missing Host a 400, which would otherwise hide whatever the case is about
  (and would make every invalid case "pass" for the wrong reason). Pipelined cases get it in each
  request, through ``PIPELINED``.
- Cases written against gunicorn's size limits run with ``h11_max_incomplete_event_size`` set to
  the limit they were written for (``SETTINGS``).
- valid/099's Content-Length (17914) announces more than the 8599 body bytes the file holds; it is
  set to the bytes present.

Where the corpus and this server disagree, RFC 9110/9112 decides, in the two tables below.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import Recorder
from .wire import close, is_closed, read_response, read_to_eof


# gunicorn's tests/requests corpus, vendored with its licence (requests/SOURCE.md).
CORPUS = Path(__file__).resolve().parent / "requests"


_ESCAPES = {b"r": b"\r", b"n": b"\n", b"0": b"\0", b"t": b"\t"}


def load(path: Path) -> bytes:
    """Decode the corpus notation: newlines are cosmetic, ``\\r \\n \\0 \\t \\xHH`` are escapes."""
    text = path.read_bytes().replace(b"\n", b"")

    def unescape(match: re.Match[bytes]) -> bytes:
        code = match.group(1)
        return bytes([int(code[1:], 16)]) if code[:1] == b"x" else _ESCAPES[code]

    return re.sub(rb"\\(x[0-9a-fA-F]{2}|[rn0t])", unescape, text)


def add_host(data: bytes) -> bytes:
    line_end = data.find(b"\r\n")
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    if line_end < 0 or not data[:line_end].endswith(b" HTTP/1.1") or b"\r\nhost:" in head:
        return data
    return data[: line_end + 2] + b"Host: example.com\r\n" + data[line_end + 2 :]


def case_name(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


# -- expectations for valid/ ----------------------------------------------------------------------
# One dict per request the app must see, in order: environ keys and their values, plus "body".
# A key mapped to None must be absent.

E = dict

VALID: dict[str, list[dict[str, Any]]] = {
    "001": [E(REQUEST_METHOD="PUT", PATH_INFO="/stuff/here", QUERY_STRING="foo=bar",
              SERVER_PROTOCOL="HTTP/1.0", HTTP_SERVER="http://127.0.0.1:5984",
              CONTENT_TYPE="application/json", CONTENT_LENGTH="14", body=b'{"nom": "nom"}')],
    "002": [E(REQUEST_METHOD="GET", PATH_INFO="/test", HTTP_HOST="0.0.0.0=5000",
              HTTP_ACCEPT="*/*", body=b"")],
    "003": [E(PATH_INFO="/favicon.ico", HTTP_KEEP_ALIVE="300", HTTP_CONNECTION="keep-alive",
              HTTP_ACCEPT_CHARSET="ISO-8859-1,utf-8;q=0.7,*;q=0.7",
              HTTP_ACCEPT_ENCODING="gzip,deflate")],
    "004": [E(PATH_INFO="/silly", HTTP_AAAAAAAAAAAAA="++++++++++")],
    "006": [E(PATH_INFO="/get_no_headers_no_body/world", QUERY_STRING="", body=b"")],
    "007": [E(PATH_INFO="/get_one_header_no_body", HTTP_ACCEPT="*/*")],
    "008": [E(PATH_INFO="/unusual_content_length", CONTENT_LENGTH="5", body=b"HELLO")],
    "010": [E(REQUEST_METHOD="POST", PATH_INFO="/post_chunked_all_your_base",
              HTTP_TRANSFER_ENCODING="chunked", CONTENT_LENGTH="30",
              body=b"all your base are belong to us")],
    "011": [E(PATH_INFO="/two_chunks_mult_zero_end", body=b"hello world")],
    # Trailer fields are discarded: they never become CONTENT_TYPE or HTTP_VARY.
    "012": [E(PATH_INFO="/chunked_w_trailing_headers", body=b"hello world", CONTENT_TYPE=None,
              HTTP_VARY=None)],
    "013": [E(PATH_INFO="/chunked_w_extensions", body=b"hello world")],
    "014": [E(PATH_INFO='/with_"quotes"', QUERY_STRING='foo="bar"')],
    "015": [E(PATH_INFO="/test", SERVER_PROTOCOL="HTTP/1.0", HTTP_HOST="0.0.0.0:5000",
              HTTP_USER_AGENT="ApacheBench/2.3")],
    "017": [E(PATH_INFO="/stuff/here", HTTP_IF_MATCH="bazinga!, large-sound")],
    "018": [E(PATH_INFO="/first"), E(PATH_INFO="/second")],
    "019": [E(PATH_INFO="/first")],  # HTTP/1.0 without keep-alive: /second is never read
    "020": [E(PATH_INFO="/first", body=b"GET /second HTTP/1.1\r\n\r\n")],
    "021": [E(PATH_INFO="/first", HTTP_CONNECTION="Close")],
    "022": [E(PATH_INFO="/first", SERVER_PROTOCOL="HTTP/1.0"),
            E(PATH_INFO="/second", SERVER_PROTOCOL="HTTP/1.1")],
    "023": [E(REQUEST_METHOD="POST", body=b"hello world"),
            E(REQUEST_METHOD="GET", PATH_INFO="/second", body=b"")],
    "024": [E(REQUEST_METHOD="PUT", SERVER_PROTOCOL="HTTP/1.0")],
    "026": [E(PATH_INFO="/", SERVER_PROTOCOL="HTTP/1.0")],
    "031": [E(REQUEST_METHOD="-BLARGH", PATH_INFO="/foo")],
    "031compat2": [E(REQUEST_METHOD="-blargh", PATH_INFO="/foo")],
    # Header names with "_" are dropped (they would alias the "-" spelling in the environ).
    "040": [E(PATH_INFO="/keep/same/as", QUERY_STRING="invalid/040", CONTENT_LENGTH="7",
              body=b"tricked", HTTP_TRANSFER_ENCODING=None)],
    "099": [E(REQUEST_METHOD="POST", PATH_INFO="/test-form", CONTENT_LENGTH="8599",
              CONTENT_TYPE="multipart/form-data; boundary="
              "---------------------------320761477111544",
              HTTP_COOKIE="csrftoken=XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX; "
              "sessionid=YYYYYYYYYYYYYYYYYYYYYYYYYYYY")],
    "100": [E(PATH_INFO="///keeping_slashes")],
    "compat_obs_fold": [E(HTTP_LONG="one two", HTTP_HOST="localhost")],
    "compat_obs_fold_huge": [E(PATH_INFO="/")],
    "padding_01": [E(HTTP_NAME="value")],
    "rfc9110_body_framing_get_cl_nonzero_01": [E(REQUEST_METHOD="GET", body=b"hello")],
    "rfc9110_body_framing_get_cl_zero_01": [E(CONTENT_LENGTH="0", body=b"")],
    "rfc9110_body_framing_http10_cl_01": [E(REQUEST_METHOD="POST", body=b"hello")],
    "rfc9110_field_name_special_chars_01": [{"HTTP_X.CUSTOM|PIPE": "ok"}],
    "rfc9110_field_value_htab_trim_01": [E(HTTP_X_VALUE="abc")],
    # obs-text reaches the app as latin-1 "bytes in a str" (PEP 3333).
    "rfc9110_field_value_obs_text_01": [E(HTTP_X_VALUE="caf\xc3\xa9")],
    "rfc9112_chunked_ext_quoted_01": [E(body=b"hello")],
    "rfc9112_chunked_size_leading_zeros_01": [E(body=b"hello")],
    "rfc9112_chunked_size_uppercase_hex_01": [E(body=b"0123456789", CONTENT_LENGTH="10")],
    "rfc9112_target_absolute_01": [E(PATH_INFO="/foo", QUERY_STRING="q=1",
                                     HTTP_HOST="example.com")],
    # The scheme stays the connection's: "https://" in the target does not make it secure.
    "rfc9112_target_absolute_https_01": [{"PATH_INFO": "/foo", "wsgi.url_scheme": "http"}],
    "rfc9112_target_absolute_ipv6_01": [E(PATH_INFO="/foo", HTTP_HOST="[::1]:8080")],
    "rfc9112_target_asterisk_options_01": [E(REQUEST_METHOD="OPTIONS", PATH_INFO="*")],
}

#: Pipelined cases: the Host header each of their HTTP/1.1 requests needs.
PIPELINED = {
    "valid/018": [(b"GET /second HTTP/1.1\r\n", b"GET /second HTTP/1.1\r\nHost: example.com\r\n")],
    "valid/019": [(b"GET /second HTTP/1.1\r\n", b"GET /second HTTP/1.1\r\nHost: example.com\r\n")],
    "valid/021": [(b"GET /second HTTP/1.1\r\n", b"GET /second HTTP/1.1\r\nHost: example.com\r\n")],
    "valid/022": [(b"GET /second HTTP/1.1\r\n", b"GET /second HTTP/1.1\r\nHost: example.com\r\n")],
    "valid/023": [(b"GET /second HTTP/1.1\r\n", b"GET /second HTTP/1.1\r\nHost: example.com\r\n")],
    "valid/099": [(b"Content-Length: 17914\r\n", b"Content-Length: 8599\r\n")],
}

#: Cases whose connection must be closed by the server after the responses.
CLOSES = {"001", "008", "015", "019", "020", "021", "024", "026",
          "rfc9110_body_framing_http10_cl_01"}

SETTINGS: dict[str, dict[str, Any]] = {
    # gunicorn's limits: a 4094-byte request line, 8190-byte header fields.
    "valid/024": {"h11_max_incomplete_event_size": 32768},
    "invalid/006": {"h11_max_incomplete_event_size": 4094},
    "invalid/007": {"h11_max_incomplete_event_size": 8190},
    "invalid/008": {"h11_max_incomplete_event_size": 8190},
    "invalid/017": {"h11_max_incomplete_event_size": 8190},
    "invalid/limit_header_default_01": {"h11_max_incomplete_event_size": 8190},
}

# -- where the corpus and this server disagree --------------------------------------------------

#: valid/ cases refused on purpose: the status this server answers, and why.
REFUSED_VALID: dict[str, tuple[int, str]] = {
    "005": (400, "a fragment is not part of an origin-form target (RFC 9112 §3.2.1)"),
    "009": (501, "Transfer-Encoding other than chunked: 501, RFC 9112 §6.1 (h11)"),
    "025": (501, "gzip transfer coding not implemented: 501, RFC 9112 §6.1 (h11)"),
    "025_line": (501, "gzip transfer coding not implemented: 501, RFC 9112 §6.1 (h11)"),
    "027": (400, "raw non-ASCII bytes in the target are not URI characters (RFC 3986 §2)"),
    "029": (501, "identity transfer coding not implemented: 501, RFC 9112 §6.1 (h11)"),
    "030": (501, "identity transfer coding not implemented: 501, RFC 9112 §6.1 (h11)"),
    "rfc9112_smuggle_gzip_chunked_01": (501, "gzip transfer coding: 501, RFC 9112 §6.1"),
    "rfc9112_smuggle_te_identity_chunked_01": (501, "identity coding: 501, RFC 9112 §6.1"),
    "rfc9112_target_absolute_userinfo_01": (
        400, "userinfo in an http URI is to be treated as an error (RFC 9110 §4.2.4)"),
    "rfc9112_target_authority_connect_01": (
        501, "CONNECT asks for a tunnel, which a WSGI app cannot give (RFC 9110 §9.3.6)"),
    "rfc9112_target_authority_ipv6_01": (
        501, "CONNECT asks for a tunnel, which a WSGI app cannot give (RFC 9110 §9.3.6)"),
}

#: invalid/ cases this server accepts, and why that is safe.
ACCEPTED_INVALID: dict[str, str] = {
    "003c": "'-bl' is a valid token method (RFC 9110 §9.1); gunicorn's 3-letter minimum is its own",
    "009": "no limit on the number of header fields; h11_max_incomplete_event_size bounds the head",
    "chunked_07": "Transfer_Encoding is dropped from the environ (underscore names are), so the "
    "app sees only the real Transfer-Encoding and the decoded body",
    "chunked_09": "h11 allows whitespace after the chunk size; the size itself is unambiguous",
    "chunked_14": "the bare CR is inside a chunk extension, which h11 ignores whole (RFC 9112 §2.2 "
    "lets a recipient treat such an element as invalid); the chunk size is unambiguous",
    "rfc9110_trailer_forbidden_cl_01": "trailer fields are discarded, never merged into the "
    "environ (RFC 9110 §6.5.1), so a Content-Length there changes nothing",
    "rfc9110_trailer_forbidden_host_01": "trailer fields are discarded (RFC 9110 §6.5.1)",
    "rfc9110_trailer_forbidden_te_01": "trailer fields are discarded (RFC 9110 §6.5.1)",
}

VALID_CASES = sorted((CORPUS / "valid").glob("*.http"))
INVALID_CASES = sorted((CORPUS / "invalid").glob("*.http"))


def test_every_valid_case_has_an_expectation() -> None:
    names = {path.stem for path in VALID_CASES}
    assert names == set(VALID) | set(REFUSED_VALID)


def prepare(path: Path) -> bytes:
    data = add_host(load(path))
    for old, new in PIPELINED.get(case_name(path), ()):
        assert old in data
        data = data.replace(old, new)
    return data


async def send(serve: Any, path: Path, app: Any) -> tuple[Any, Any, Any]:
    settings = dict(timeout_header=0.3, timeout_body=0.3, timeout_keep_alive=2)
    settings.update(SETTINGS.get(case_name(path), {}))
    running = await serve(app, **settings)
    reader, writer = await running.connect()
    writer.write(prepare(path))
    return running, reader, writer


@pytest.mark.asyncio
@pytest.mark.parametrize("path", VALID_CASES, ids=case_name)
async def test_valid(serve: Any, path: Path) -> None:
    app = Recorder()
    _, reader, writer = await send(serve, path, app)
    try:
        if path.stem in REFUSED_VALID:
            status, _reason = REFUSED_VALID[path.stem]
            response = await read_response(reader)
            assert response.status == status, response.text
            assert not app.called
            return
        expected = VALID[path.stem]
        for _ in expected:
            response = await read_response(reader)
            assert response.status == 200, response.text
            assert response.body == b"ok"
        if path.stem in CLOSES:
            assert response.header("connection") == "close"
            assert await is_closed(reader)
        assert len(app.calls) == len(expected)
        for seen, wanted in zip(app.calls, expected, strict=True):
            for key, value in wanted.items():
                if value is None:
                    assert key not in seen, key
                else:
                    assert seen.get(key) == value, key
        if path.stem == "024":
            assert len(app.last["PATH_INFO"]) > 8000
            assert len(app.last["HTTP_SOMEHEADER"]) > 8000
        if path.stem == "099":
            assert len(app.last["body"]) == 8599
        if path.stem == "compat_obs_fold_huge":
            cert = app.last["HTTP_X_SSL_CERT"]
            assert cert.startswith("-----BEGIN CERTIFICATE-----")
            assert cert.endswith("-----END CERTIFICATE-----")
    finally:
        await close(writer)


@pytest.mark.asyncio
@pytest.mark.parametrize("path", INVALID_CASES, ids=case_name)
async def test_invalid(serve: Any, path: Path) -> None:
    if path.stem in ACCEPTED_INVALID:
        pytest.skip(ACCEPTED_INVALID[path.stem])
    app = Recorder()
    _, reader, writer = await send(serve, path, app)
    try:
        response = await read_response(reader)
        assert 400 <= response.status < 600, response.status
        assert response.header("connection") == "close"
        assert response.header("content-type") == "text/plain; charset=utf-8"
        assert 0 < len(response.body) < 200
        # Nothing else follows: the connection is closed once the reason is sent.
        assert await read_to_eof(reader) == b""
        assert not app.called
    finally:
        await close(writer)
