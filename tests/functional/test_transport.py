"""Sockets and what goes on them: headers the server adds, writes, TCP_NODELAY, UNIX sockets, fd."""

from __future__ import annotations

import email.utils
import errno
import os
import socket
from typing import Any

import pytest

from cogen_aio import __version__

from .conftest import Recorder
from .wire import close, read_response, request, wait_for


class CountingTransport:
    """Stands in for a connection's transport and counts the writes going through it."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


async def only_connection(running: Any) -> Any:
    await wait_for(lambda: len(running.connections) == 1)
    (conn,) = running.connections
    return conn


@pytest.mark.asyncio
async def test_small_response_leaves_in_one_write(serve: Any, family: str) -> None:
    running = await serve(Recorder(body=b"hello"), family=family)
    reader, writer = await running.connect()
    conn = await only_connection(running)
    counting = CountingTransport(conn.transport)
    conn.transport = counting
    writer.write(request())
    response = await read_response(reader)
    assert response.body == b"hello"
    assert len(counting.writes) == 1
    assert counting.writes[0] == response.raw_head + b"hello"
    conn.transport = counting._transport
    await close(writer)


@pytest.mark.asyncio
async def test_date_and_server_headers(serve: Any) -> None:
    running = await serve(Recorder())
    async with running.client() as client:
        response = await client.get("/")
    assert response.headers["server"] == f"cogen_aio/{__version__}"
    parsed = email.utils.parsedate_to_datetime(response.headers["date"])
    assert parsed.tzinfo is not None
    assert response.headers["date"].endswith(" GMT")


@pytest.mark.asyncio
async def test_app_server_and_date_headers_are_not_doubled(serve: Any) -> None:
    app = Recorder(headers=[("Server", "mine"), ("Date", "Thu, 01 Jan 1970 00:00:00 GMT")])
    running = await serve(app)
    reader, writer = await running.connect()
    writer.write(request())
    response = await read_response(reader)
    assert response.all("server") == ["mine"]
    assert response.all("date") == ["Thu, 01 Jan 1970 00:00:00 GMT"]
    await close(writer)


@pytest.mark.asyncio
async def test_server_and_date_headers_can_be_turned_off(serve: Any) -> None:
    running = await serve(Recorder(), server_header=False, date_header=False)
    reader, writer = await running.connect()
    writer.write(request())
    response = await read_response(reader)
    assert response.header("server") is None
    assert response.header("date") is None
    await close(writer)


@pytest.mark.asyncio
async def test_tcp_nodelay_on_accepted_sockets(serve: Any) -> None:
    running = await serve(Recorder())
    reader, writer = await running.connect()
    conn = await only_connection(running)
    sock = conn.transport.get_extra_info("socket")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    await close(writer)


# -- UNIX sockets and inherited file descriptors ------------------------------------------------


@pytest.mark.asyncio
async def test_unix_socket_file_lifecycle(serve: Any, short_tmp: str) -> None:
    path = os.path.join(short_tmp, "app.sock")
    # A stale socket file left by a crashed server is replaced, not an error.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    running = await serve(Recorder(), uds=path)
    assert running.address == path
    async with running.client() as client:
        assert (await client.get("/")).text == "ok"
    await running.server.shutdown()
    assert not os.path.exists(path)


@pytest.mark.asyncio
async def test_tcp_fd_stays_tcp(serve: Any) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    app = Recorder()
    try:
        running = await serve(app, fd=os.dup(listener.fileno()))
    finally:
        listener.close()  # the server serves on its own duplicate
    assert running.address == ("127.0.0.1", port)
    async with running.client() as client:
        assert (await client.get("/x")).status_code == 200
    assert app.last["REMOTE_ADDR"] == "127.0.0.1"
    assert app.last["SERVER_PORT"] == str(port)


@pytest.mark.asyncio
async def test_unix_fd_stays_unix(serve: Any, short_tmp: str) -> None:
    path = os.path.join(short_tmp, "fd.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    app = Recorder()
    try:
        running = await serve(app, fd=os.dup(listener.fileno()))
    finally:
        listener.close()
    assert running.address == path
    reader, writer = await running.connect()
    writer.write(request())
    assert (await read_response(reader)).status == 200
    assert app.last["REMOTE_ADDR"] == "localhost"
    await close(writer)


@pytest.mark.asyncio
async def test_access_log_line_per_response(serve: Any, logs: Any) -> None:
    running = await serve(Recorder(body=b"12345"))
    reader, writer = await running.connect()
    writer.write(request(target="/a?b=c") + request("HEAD", "/h"))
    await read_response(reader)
    await read_response(reader, head=True)
    await close(writer)
    lines = logs.messages("cogen_aio.access")
    assert len(lines) == 2
    assert lines[0].startswith("127.0.0.1:")
    assert lines[0].endswith('"GET /a?b=c HTTP/1.1" 200 5')
    assert lines[1].endswith('"HEAD /h HTTP/1.1" 200 0')


@pytest.mark.asyncio
async def test_no_access_log_setting(serve: Any, logs: Any) -> None:
    running = await serve(Recorder(), access_log=False)
    async with running.client() as client:
        assert (await client.get("/")).status_code == 200
    assert logs.messages("cogen_aio.access") == []


@pytest.mark.asyncio
async def test_unix_socket_in_use_is_not_stolen(serve: Any, short_tmp: str) -> None:
    path = os.path.join(short_tmp, "busy.sock")
    first = await serve(Recorder(body=b"first"), uds=path)
    with pytest.raises(OSError) as failure:
        await serve(Recorder(body=b"second"), uds=path)
    assert failure.value.errno == errno.EADDRINUSE
    async with first.client() as client:
        assert (await client.get("/")).text == "first"
