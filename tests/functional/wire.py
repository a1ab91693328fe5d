"""Small, strict HTTP/1.1 client pieces for byte-level tests over real sockets.

The functional tests talk to the server the way clients do: through ``asyncio.open_connection``
(TCP) or ``asyncio.open_unix_connection``. Responses are parsed here by hand, not by an HTTP
library, so that the bytes the server puts on the wire are what the tests assert on.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

#: Generous: only there to turn a hang into a failure, never to measure speed.
HANG = 10.0


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    raw_head: bytes = b""
    chunk_sizes: list[int] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (joined with ", " when repeated), or None."""
        values = self.all(name)
        return ", ".join(values) if values else None

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([^\r\n]*))?\r\n")


async def read_head(reader: asyncio.StreamReader) -> Response:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
    match = _STATUS_LINE.match(raw)
    assert match, f"bad status line in {raw[:200]!r}"
    headers = []
    for line in raw[match.end() : -4].split(b"\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(b":")
        assert sep and name == name.strip(), f"bad header line {line!r}"
        headers.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))
    return Response(int(match.group(1)), (match.group(2) or b"").decode("latin-1"), headers,
                    raw_head=raw)


async def read_response(
    reader: asyncio.StreamReader, *, head: bool = False, skip_interim: bool = True
) -> Response:
    """Read one response; the body is framed the way RFC 9112 §6.3 says a client must."""
    while True:
        response = await read_head(reader)
        if response.status >= 200 or not skip_interim:
            break
    if head or response.status in (204, 304) or response.status < 200:
        return response
    te = response.header("transfer-encoding")
    length = response.header("content-length")
    if te is not None:
        assert te.lower() == "chunked", te
        assert length is None, "both Content-Length and Transfer-Encoding in a response"
        body = bytearray()
        while True:
            size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), HANG)
            assert re.fullmatch(rb"[0-9a-f]+\r\n", size_line), f"bad chunk size {size_line!r}"
            size = int(size_line, 16)
            if size == 0:
                assert await asyncio.wait_for(reader.readexactly(2), HANG) == b"\r\n"
                break
            response.chunk_sizes.append(size)
            body += await asyncio.wait_for(reader.readexactly(size), HANG)
            assert await asyncio.wait_for(reader.readexactly(2), HANG) == b"\r\n"
        response.body = bytes(body)
    elif length is not None:
        response.body = await asyncio.wait_for(reader.readexactly(int(length)), HANG)
    else:
        response.body = await asyncio.wait_for(reader.read(), HANG)
    return response


async def read_to_eof(reader: asyncio.StreamReader, timeout: float = HANG) -> bytes:
    """Everything until the server closes (fails on a hang, returns b"" after a reset)."""
    chunks = []
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                break
            chunks.append(data)
    except (ConnectionResetError, BrokenPipeError):
        pass
    return b"".join(chunks)


async def is_closed(reader: asyncio.StreamReader, timeout: float = HANG) -> bool:
    """True once the server has closed the connection (EOF or reset), with no bytes first."""
    try:
        data = await asyncio.wait_for(reader.read(1), timeout)
    except (ConnectionResetError, BrokenPipeError):
        return True
    return data == b""


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), HANG)
    except (ConnectionError, OSError):
        pass


async def wait_for(predicate: Callable[[], Any], timeout: float = HANG, step: float = 0.005) -> Any:
    """Poll ``predicate`` on the loop until it is truthy (fails the test on a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        await asyncio.sleep(step)


def request(
    method: str = "GET",
    target: str = "/",
    headers: Iterable[tuple[str, str]] = (("Host", "test"),),
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    lines = [f"{method} {target} {version}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
