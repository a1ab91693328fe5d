"""cogen_aio.sockets: the socket operations of cogen-api.md §11 and their §17 results.

Everything talks over 127.0.0.1. Most tests await the operations from asyncio; the same
scenarios run again on uvloop and on a loop without readiness callbacks (the Windows proactor's
situation) at the end of the module. Scheduler-level tests run the operations inside cogen
coroutines; server-level tests park them from WSGI apps behind the real server.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import errno
import io
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import warnings
from typing import Any, Awaitable, Callable, Iterator

import httpx
import pytest

import cogen_aio
from cogen_aio import ops, sockets
from cogen_aio.ops import OperationTimeout, Sleep
from cogen_aio.sockets import ConnectionClosed, Socket, SocketError

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a test dependency where it builds
    uvloop = None

HANG = 10.0  # generous: only there to turn a hang into a failure
LOCAL = "127.0.0.1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- helpers -------------------------------------------------------------------------------------


def pair() -> tuple[Socket, socket.socket]:
    """A cogen socket connected over TCP to a plain (blocking-capable) stdlib socket."""
    with socket.create_server((LOCAL, 0)) as listener:
        peer = socket.create_connection(listener.getsockname())
        conn, _ = listener.accept()
    peer.settimeout(HANG)
    return Socket(_sock=conn), peer


def listener(cls: type[Socket] = Socket) -> Socket:
    srv = cls()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((LOCAL, 0))
    srv.listen(16)
    return srv


def nothing_pending(peer: socket.socket) -> bool:
    """Whether no byte is waiting to be read on ``peer`` (loopback delivers sends at once)."""
    peer.setblocking(False)
    try:
        peer.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        peer.settimeout(HANG)
    return False


def recv_exactly(peer: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = peer.recv(n - len(data))
        assert chunk, "peer saw EOF early"
        data += chunk
    return data


async def turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def registered(sock: Socket) -> bool:
    """Whether a reader or writer is registered on the loop for ``sock``.

    asyncio's ``remove_reader`` reports whether one was there; uvloop's does not, so the
    socket's own record is checked too (the data tests below show nothing reads behind it).
    """
    loop = asyncio.get_running_loop()
    if sock._watching != [None, None]:
        return True
    if isinstance(loop, asyncio.SelectorEventLoop) and not isinstance(loop, NoReadinessLoop):
        fd = sock.fileno()
        return bool(loop.remove_reader(fd)) or bool(loop.remove_writer(fd))
    return False


@pytest.fixture(autouse=True)
def fresh_module_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sockets, "_default_timeout", None)
    monkeypatch.setattr(sockets, "_warned_str", False)
    monkeypatch.setattr(sockets, "_deprecated_seen", set())


# -- recv ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_recv_returns_nonempty_data_up_to_bufsize() -> None:
    sock, peer = pair()
    with sock, peer:
        peer.sendall(b"hello world")
        assert await sock.recv(5) == b"hello"
        assert await sock.recv(100) == b" world"


@pytest.mark.asyncio
async def test_recv_waits_for_data() -> None:
    sock, peer = pair()
    with sock, peer:
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, peer.sendall, b"late")
        assert await sock.recv(4096) == b"late"
        assert not registered(sock)


@pytest.mark.asyncio
async def test_recv_at_eof_raises_connection_closed_never_empty() -> None:
    sock, peer = pair()
    with sock:
        peer.sendall(b"last")
        peer.close()
        assert await sock.recv(10) == b"last"
        with pytest.raises(ConnectionClosed):
            await sock.recv(10)
        with pytest.raises(ConnectionClosed):  # and again: EOF stays EOF
            await sock.recv(10)


@pytest.mark.asyncio
async def test_recv_eof_while_waiting() -> None:
    sock, peer = pair()
    with sock:
        asyncio.get_running_loop().call_later(0.02, peer.close)
        with pytest.raises(ConnectionClosed):
            await sock.recv(10)


@pytest.mark.asyncio
async def test_recv_on_unconnected_socket_is_a_socket_error() -> None:
    with Socket() as sock:
        with pytest.raises(SocketError) as info:
            await sock.recv(10)
    assert not isinstance(info.value, ConnectionClosed)
    assert info.value.errno == errno.ENOTCONN
    assert info.value.args[0] == errno.ENOTCONN
    assert isinstance(info.value.__cause__, OSError)


def test_recv_size_must_be_positive() -> None:
    with Socket() as sock:
        with pytest.raises(ValueError):
            sock.recv(0)


def test_operations_need_a_cogen_socket() -> None:
    with socket.socket() as raw:
        with pytest.raises(TypeError):
            sockets.Recv(raw, 10)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_recvall_gives_exactly_length_bytes() -> None:
    sock, peer = pair()
    with sock, peer:
        loop = asyncio.get_running_loop()
        peer.sendall(b"abc")
        loop.call_later(0.02, peer.sendall, b"defgh")
        assert await sockets.RecvAll(sock, 6) == b"abcdef"
        assert await sock.recv(10) == b"gh"


@pytest.mark.asyncio
async def test_recvall_eof_raises_and_drops_partial_data() -> None:
    sock, peer = pair()
    with sock:
        peer.sendall(b"abc")
        peer.close()
        with pytest.raises(ConnectionClosed) as info:
            await sockets.RecvAll(sock, 10)
        assert info.value.partial == b"abc"
        with pytest.raises(ConnectionClosed):
            await sock.recv(10)  # the partial data is gone from the stream


# -- send / sendall ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_send_returns_bytes_sent_and_may_be_partial() -> None:
    sock, peer = pair()
    with sock, peer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert await sock.send(b"small") == 5
        big = b"x" * (4 << 20)
        sent = await sock.send(big)
        assert 0 < sent < len(big)  # the kernel took what fit
        assert recv_exactly(peer, 5) == b"small"


@pytest.mark.asyncio
async def test_sendall_returns_total_and_delivers_everything() -> None:
    sock, peer = pair()
    with sock, peer:
        big = bytes(range(256)) * 8192  # 2 MiB: needs many writable events
        reader = threading.Thread(target=lambda: received.append(recv_exactly(peer, len(big))))
        received: list[bytes] = []
        reader.start()
        assert await sock.sendall(big) == len(big)
        await asyncio.get_running_loop().run_in_executor(None, reader.join, HANG)
        assert received == [big]
        assert not registered(sock)


@pytest.mark.asyncio
async def test_sendall_accepts_bytearray_and_memoryview() -> None:
    sock, peer = pair()
    with sock, peer:
        assert await sock.sendall(bytearray(b"ab")) == 2
        assert await sock.sendall(memoryview(b"cdef")[1:3]) == 2
        assert recv_exactly(peer, 4) == b"abde"


@pytest.mark.asyncio
async def test_send_to_closed_peer_raises_connection_closed() -> None:
    sock, peer = pair()
    with sock:
        peer.close()
        with pytest.raises(ConnectionClosed) as info:
            for _ in range(200):  # the first sends may still be accepted by the kernel
                await sock.sendall(b"x" * 65536)
                await asyncio.sleep(0.005)
        assert info.value.errno in (errno.EPIPE, errno.ECONNRESET)
        assert isinstance(info.value, SocketError)


def test_send_rejects_non_buffers() -> None:
    with Socket() as sock:
        with pytest.raises(TypeError):
            sock.sendall(42)


@pytest.mark.asyncio
async def test_str_data_is_encoded_utf8_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    sock, peer = pair()
    with sock, peer, caplog.at_level(logging.WARNING, logger="cogen_aio.error"):
        assert await sock.sendall("héllo") == 6
        assert await sock.send("!") == 1
        assert recv_exactly(peer, 7) == "héllo!".encode()
    warnings_logged = [r for r in caplog.records if "encoded as UTF-8" in r.getMessage()]
    assert len(warnings_logged) == 1


@pytest.mark.asyncio
async def test_concurrent_sendalls_do_not_interleave() -> None:
    sock, peer = pair()
    with sock, peer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        a, b = b"A" * (1 << 20), b"B" * (1 << 20)
        received: list[bytes] = []
        reader = threading.Thread(target=lambda: received.append(recv_exactly(peer, 2 << 20)))
        reader.start()
        results = await asyncio.gather(sock.sendall(a), sock.sendall(b))
        await asyncio.get_running_loop().run_in_executor(None, reader.join, HANG)
        assert results == [len(a), len(b)]
        assert received == [a + b]


@pytest.mark.asyncio
async def test_concurrent_readers_are_served_in_order() -> None:
    sock, peer = pair()
    with sock, peer:
        first = asyncio.ensure_future(sock.recv(3))
        second = asyncio.ensure_future(sock.makefile().readline())
        await turns()
        peer.sendall(b"one")
        assert await first == b"one"
        peer.sendall(b"two\n")
        assert await second == b"two\n"


# -- accept / connect ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_accept_returns_a_socket_of_the_acceptors_class_and_the_address() -> None:
    class Mine(Socket):
        __slots__ = ()

    with listener(Mine) as srv:
        client = socket.create_connection(srv.getsockname())
        with client:
            conn, addr = await srv.accept()
            with conn:
                assert type(conn) is Mine
                assert addr == client.getsockname()
                client.sendall(b"hi")
                assert await conn.recv(10) == b"hi"


@pytest.mark.asyncio
async def test_accept_waits_for_a_client() -> None:
    with listener() as srv:
        accepting = asyncio.ensure_future(srv.accept())
        await turns()
        assert not accepting.done()
        client = Socket()
        assert await client.connect(srv.getsockname()) is client
        conn, addr = await accepting
        with conn, client:
            assert addr == client.getsockname()
            assert conn.getpeername() == client.getsockname()


@pytest.mark.asyncio
async def test_connect_returns_the_socket_itself() -> None:
    with listener() as srv:
        with Socket() as client:
            assert await client.connect(srv.getsockname()) is client
            assert client.getpeername() == srv.getsockname()


@pytest.mark.asyncio
async def test_connect_resolves_host_names() -> None:
    with listener() as srv:
        with Socket() as client:
            assert await client.connect(("localhost", srv.getsockname()[1])) is client
            assert client.getpeername() == srv.getsockname()


@pytest.mark.asyncio
async def test_refused_connect_raises_socket_error() -> None:
    # The original could report a refused connection as success (ENOTCONN quirk, §11).
    with socket.create_server((LOCAL, 0)) as probe:
        port = probe.getsockname()[1]
    with Socket() as client:
        with pytest.raises(SocketError) as info:
            await client.connect((LOCAL, port))
    assert info.value.errno == errno.ECONNREFUSED
    assert not isinstance(info.value, ConnectionClosed)


@pytest.mark.asyncio
async def test_connect_timeout() -> None:
    # A listener whose accept queue is full drops new SYNs, so the connect hangs.
    with socket.create_server((LOCAL, 0), backlog=0) as full:
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(full.getsockname())
            fillers.append(filler)
        try:
            await asyncio.sleep(0.02)
            with Socket() as client:
                op = client.connect(full.getsockname(), timeout=0.1)
                with pytest.raises(OperationTimeout) as info:
                    await op
                assert info.value.args[0] is op
                await turns()
                assert not registered(client)
        finally:
            for filler in fillers:
                filler.close()


# -- sendfile ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sendfile_sends_the_file_from_its_position() -> None:
    payload = os.urandom(3_000_000)
    sock, peer = pair()
    with sock, peer, tempfile.TemporaryFile() as fh:
        fh.write(payload)
        fh.seek(1000)
        received: list[bytes] = []
        reader = threading.Thread(
            target=lambda: received.append(recv_exactly(peer, len(payload) - 1000))
        )
        reader.start()
        assert await sock.sendfile(fh) == len(payload) - 1000
        await asyncio.get_running_loop().run_in_executor(None, reader.join, HANG)
        assert received == [payload[1000:]]
        assert fh.tell() == len(payload)


@pytest.mark.asyncio
async def test_sendfile_offset_length_and_blocksize(tmp_path: Any) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789" * 10)
    sock, peer = pair()
    with sock, peer, open(path, "rb") as fh:
        assert await sock.sendfile(fh, offset=5, length=20, blocksize=3) == 20
        assert recv_exactly(peer, 20) == (b"0123456789" * 10)[5:25]
        assert fh.tell() == 25
        # A length beyond the end stops at the end (the original hung).
        assert await sockets.SendFile(fh, sock, 90, 50) == 10
        assert recv_exactly(peer, 10) == b"0123456789"


@pytest.mark.asyncio
async def test_sendfile_from_a_file_without_descriptor() -> None:
    sock, peer = pair()
    with sock, peer:
        fh = io.BytesIO(b"in memory data")
        fh.seek(3)
        assert await sock.sendfile(fh, blocksize=4) == 11
        assert recv_exactly(peer, 11) == b"memory data"


# -- timeouts ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_socket_timeout_applies_to_every_operation() -> None:
    sock, peer = pair()
    with sock, peer:
        sock.settimeout(0.05)
        assert sock.gettimeout() == 0.05
        fh = sock.makefile()
        for make in (
            lambda: sock.recv(10),
            lambda: sockets.RecvAll(sock, 10, timeout=sock.gettimeout()),
            lambda: fh.read(10),
            lambda: fh.readline(),
            lambda: fh.readlines(),
        ):
            op = make()
            with pytest.raises(OperationTimeout) as info:
                await op
            assert info.value.args[0] is op
            assert info.value.message is op
        with listener() as srv:
            srv.settimeout(0.05)
            with pytest.raises(OperationTimeout):
                await srv.accept()


@pytest.mark.asyncio
async def test_sendall_timeout_when_the_peer_does_not_read() -> None:
    sock, peer = pair()
    with sock, peer:
        sock.settimeout(datetime.timedelta(milliseconds=50))
        op = sock.sendall(b"x" * (64 << 20))
        with pytest.raises(OperationTimeout) as info:
            await op
        assert info.value.args[0] is op
        await turns()
        assert not registered(sock)


@pytest.mark.asyncio
async def test_timeout_keyword_overrides_the_socket_timeout() -> None:
    sock, peer = pair()
    with sock, peer:
        sock.settimeout(-1)
        with pytest.raises(OperationTimeout):
            await sock.recv(10, timeout=0.02)


@pytest.mark.asyncio
async def test_operations_built_directly_do_not_take_the_socket_timeout() -> None:
    sock, peer = pair()
    with sock, peer:
        loop = asyncio.get_running_loop()
        sock.settimeout(-1)  # never, for what the socket's methods build
        assert sockets.Recv(sock, 10).timeout is None
        assert sock.recv(10).timeout == -1
        ops.set_default_timeout(loop, 0.03)  # the server's default operation timeout
        try:
            with pytest.raises(OperationTimeout):
                await sockets.Recv(sock, 10)  # no timeout of its own: the default applies
            loop.call_later(0.1, peer.sendall, b"slow")
            assert await sock.recv(10) == b"slow"  # -1: the default does not apply
        finally:
            ops.set_default_timeout(loop, None)


@pytest.mark.asyncio
async def test_default_timeout_for_new_and_accepted_sockets() -> None:
    assert sockets.getdefaulttimeout() is None
    sockets.setdefaulttimeout(7)
    assert sockets.getdefaulttimeout() == 7
    with Socket() as fresh:
        assert fresh.gettimeout() == 7
    with Socket(_timeout=3) as explicit:
        assert explicit.gettimeout() == 3
    with listener() as srv:
        srv.settimeout(1)
        with socket.create_connection(srv.getsockname()):
            conn, _ = await srv.accept()
            with conn:
                assert conn.gettimeout() == 7  # the module default, not the acceptor's


def test_setblocking() -> None:
    with Socket() as sock:
        sock.setblocking(False)
        sock.setblocking(0)
        with pytest.raises(RuntimeError):
            sock.setblocking(True)


# -- cancellation leaves nothing behind -----------------------------------------------------------


@pytest.mark.asyncio
async def test_timed_out_recv_leaves_no_reader_and_eats_no_data() -> None:
    sock, peer = pair()
    with sock, peer:
        with pytest.raises(OperationTimeout):
            await sock.recv(10, timeout=0.02)
        await turns()
        assert not registered(sock)
        peer.sendall(b"after")
        await asyncio.sleep(0.02)
        assert await sock.recv(10) == b"after"  # nothing read it in between


@pytest.mark.asyncio
async def test_cancelled_waits_leave_no_reader_or_writer() -> None:
    sock, peer = pair()
    with sock, peer:
        waits = [
            asyncio.ensure_future(sock.recv(10)),
            asyncio.ensure_future(sock.makefile().readline()),
            asyncio.ensure_future(sock.sendall(b"x" * (64 << 20))),
        ]
        await turns()
        assert not any(w.done() for w in waits)
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        await turns()
        assert not registered(sock)
        assert sock._queues == (collections.deque(), collections.deque())


@pytest.mark.asyncio
async def test_a_timed_out_reader_lets_the_next_one_through() -> None:
    sock, peer = pair()
    with sock, peer:
        first = asyncio.ensure_future(sock.recv(10, timeout=0.02))
        second = asyncio.ensure_future(sock.recv(10))
        with pytest.raises(OperationTimeout):
            await first
        peer.sendall(b"for second")
        assert await asyncio.wait_for(second, HANG) == b"for second"


@pytest.mark.asyncio
async def test_close_fails_waiting_operations_with_connection_closed() -> None:
    sock, peer = pair()
    with peer:
        waiting = asyncio.ensure_future(sock.recv(10))
        await turns()
        sock.close()
        with pytest.raises(ConnectionClosed):
            await waiting
        assert sock._watching == [None, None]


# -- makefile ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_file_read_gives_exactly_size_bytes_across_chunks() -> None:
    sock, peer = pair()
    with sock, peer:
        fh = sock.makefile()
        loop = asyncio.get_running_loop()
        peer.sendall(b"abc")
        loop.call_later(0.02, peer.sendall, b"defgh")
        assert await fh.read(5) == b"abcde"
        assert await fh.read(0) == b""
        assert await fh.read(3) == b"fgh"


@pytest.mark.asyncio
async def test_file_read_eof_before_size_raises_and_loses_partial_data() -> None:
    sock, peer = pair()
    with sock:
        peer.sendall(b"abc")
        peer.close()
        fh = sock.makefile()
        with pytest.raises(ConnectionClosed) as info:
            await fh.read(10)
        assert info.value.partial == b"abc"
        with pytest.raises(ConnectionClosed):
            await fh.read(1)  # lost: nothing is left to read


@pytest.mark.asyncio
async def test_file_read_without_size_always_ends_in_connection_closed() -> None:
    sock, peer = pair()
    with sock:
        peer.sendall(b"everything ")
        peer.sendall(b"until EOF")
        peer.close()
        with pytest.raises(ConnectionClosed) as info:
            await sock.makefile().read()
        assert info.value.partial == b"everything until EOF"


@pytest.mark.asyncio
async def test_file_readline() -> None:
    sock, peer = pair()
    with sock, peer:
        fh = sock.makefile()
        loop = asyncio.get_running_loop()
        peer.sendall(b"one\ntw")
        loop.call_later(0.02, peer.sendall, b"o\nthree and more\n")
        assert await fh.readline() == b"one\n"
        assert await fh.readline() == b"two\n"
        assert await fh.readline(5) == b"three"  # size truncates, no OverflowError (0.2)
        assert await fh.readline(100) == b" and more\n"
        assert await fh.readline(0) == b""


@pytest.mark.asyncio
async def test_file_readline_eof_before_newline_loses_partial_line() -> None:
    sock, peer = pair()
    with sock:
        peer.sendall(b"full\npartial")
        peer.close()
        fh = sock.makefile()
        assert await fh.readline() == b"full\n"
        with pytest.raises(ConnectionClosed) as info:
            await fh.readline()
        assert info.value.partial == b"partial"


@pytest.mark.asyncio
async def test_file_readlines_ends_in_connection_closed_at_eof() -> None:
    sock, peer = pair()
    with sock:
        peer.sendall(b"a\nb\nc")
        peer.close()
        with pytest.raises(ConnectionClosed) as info:
            await sock.makefile().readlines()
        assert info.value.partial == b"a\nb\nc"


@pytest.mark.asyncio
async def test_file_readlines_with_sizehint_returns_a_list() -> None:
    sock, peer = pair()
    with sock, peer:
        peer.sendall(b"a\nbb\nccc\ndddd\n")
        fh = sock.makefile()
        assert await fh.readlines(4) == [b"a\n", b"bb\n"]
        assert await fh.readlines(1) == [b"ccc\n"]
        assert await fh.readline() == b"dddd\n"


@pytest.mark.asyncio
async def test_unbuffered_file_reads_no_further_than_the_line() -> None:
    sock, peer = pair()
    with sock, peer:
        peer.sendall(b"line\nrest")
        fh = sock.makefile("rb", 0)
        assert await fh.readline() == b"line\n"
        assert bytes(sock._rbuf) == b""  # a byte at a time: the rest is still in the kernel
        assert await sock.recv(10) == b"rest"


@pytest.mark.asyncio
async def test_file_and_socket_reads_share_one_buffer() -> None:
    sock, peer = pair()
    with sock, peer:
        peer.sendall(b"header\nbody bytes")
        await asyncio.sleep(0.01)
        assert await sock.makefile().readline() == b"header\n"
        assert await sock.recv(100) == b"body bytes"  # read ahead by the file, not lost


@pytest.mark.asyncio
async def test_file_write_is_buffered_until_flush() -> None:
    sock, peer = pair()
    with sock, peer:
        fh = sock.makefile("wb")
        assert await fh.write(b"hello ") == ()
        assert await fh.writelines([b"wor", b"ld\n"]) == ()
        assert nothing_pending(peer)
        assert await fh.flush() == ()
        assert recv_exactly(peer, 12) == b"hello world\n"
        assert await fh.flush() == ()  # nothing to send


@pytest.mark.asyncio
async def test_file_write_flushes_at_bufsize() -> None:
    sock, peer = pair()
    with sock, peer:
        fh = sock.makefile("wb", 10)
        await fh.write(b"12345")
        assert nothing_pending(peer)
        await fh.write(b"67890")
        assert recv_exactly(peer, 10) == b"1234567890"


@pytest.mark.asyncio
async def test_bufsize_0_and_1_flush_every_write() -> None:
    # The Python 2 file rules the original copied: with bufsize 1 the buffered length always
    # reaches it, so "line buffering" sends every write, newline or not (cogen-api.md §11).
    sock, peer = pair()
    with sock, peer:
        for bufsize in (0, 1):
            fh = sock.makefile("wb", bufsize)
            await fh.write(b"no newline")
            assert recv_exactly(peer, 10) == b"no newline"
            await fh.writelines([b"a", b"b"])
            assert recv_exactly(peer, 2) == b"ab"


@pytest.mark.asyncio
async def test_file_close_flushes_and_keeps_the_socket_open() -> None:
    sock, peer = pair()
    with sock, peer:
        fh = sock.makefile("wb")
        await fh.write(b"bye")
        assert await fh.close() == ()
        assert fh.closed
        assert recv_exactly(peer, 3) == b"bye"
        assert await sock.sendall(b"still open") == 10
        assert await fh.close() == ()
        with pytest.raises(ValueError):
            fh.write(b"x")


@pytest.mark.asyncio
async def test_file_close_can_close_the_socket() -> None:
    sock, peer = pair()
    with peer:
        fh = sockets.SocketFile(sock, "wb", -1, close=True)
        await fh.write(b"last words")
        await fh.close()
        assert recv_exactly(peer, 10) == b"last words"
        assert peer.recv(1) == b""  # the socket was closed: EOF
        assert sock.fileno() == -1


@pytest.mark.asyncio
async def test_file_flush_to_a_closed_peer_raises() -> None:
    sock, peer = pair()
    with sock:
        peer.close()
        fh = sock.makefile("wb")
        with pytest.raises(ConnectionClosed):
            for _ in range(200):
                await fh.write(b"x" * 65536)
                await fh.flush()
                await asyncio.sleep(0.005)


@pytest.mark.asyncio
async def test_file_write_of_str_is_encoded() -> None:
    sock, peer = pair()
    with sock, peer:
        fh = sock.makefile("w", 0)
        await fh.write("ünï\n")
        assert recv_exactly(peer, 6) == "ünï\n".encode()


def test_file_object_attributes() -> None:
    with Socket() as sock:
        fh = sock.makefile("rb", 100)
        assert isinstance(fh, sockets.SocketFile)
        assert sockets._fileobject is sockets.SocketFile
        assert (fh.mode, fh.bufsize, fh.closed, fh.fileno()) == ("rb", 100, False, sock.fileno())
        assert sock.makefile().bufsize == 8192


# -- the 0.1.x API -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_01x_socket_methods_work_and_warn_once_per_name() -> None:
    sock, peer = pair()
    with sock, peer:
        peer.sendall(b"line one\nfixed")
        with pytest.warns(DeprecationWarning) as record:
            assert await sock.readline(100) == b"line one\n"
            assert await sock.readall(3) == b"fix"
            assert await sock.read(100) == b"ed"
            assert await sock.write(b"w") == 1
            assert await sock.writeall(b"wa") == 2
            assert await sock.readall(0) == b""  # same name again: no second warning
        names = sorted(str(w.message).split()[0] for w in record)
        assert names == [
            "Socket.read",
            "Socket.readall",
            "Socket.readline",
            "Socket.write",
            "Socket.writeall",
        ]
        assert recv_exactly(peer, 3) == b"wwa"


@pytest.mark.asyncio
async def test_01x_operation_classes_work_and_warn_once_per_name() -> None:
    sock, peer = pair()
    with sock, peer:
        peer.sendall(b"abc\ndefgh")
        with pytest.warns(DeprecationWarning) as record:
            assert await sockets.ReadLine(sock, 10) == b"abc\n"
            assert await sockets.ReadAll(sock, 2) == b"de"
            assert await sockets.Read(sock, 10) == b"fgh"
            assert await sockets.Write(sock, b"1") == 1
            assert await sockets.WriteAll(sock, b"23") == 2
            sockets.Read(sock, 10)
        assert len(record) == 5
        assert {type(w.message) for w in record} == {DeprecationWarning}
        assert recv_exactly(peer, 3) == b"123"
        assert isinstance(sockets.Read(sock), sockets.Recv)
        assert isinstance(sockets.WriteAll(sock, b""), sockets.SendAll)


@pytest.mark.asyncio
async def test_01x_readline_raises_overflow_without_newline_within_size() -> None:
    sock, peer = pair()
    with sock, peer:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            peer.sendall(b"0123456789\n")
            with pytest.raises(OverflowError):
                await sock.readline(5)
            # The bytes it had buffered are dropped, as in the original; the rest of the long
            # line is still to come.
            assert await sock.readline(10) == b"56789\n"
            peer.sendall(b"12345\n")
            assert await sock.readline(6) == b"12345\n"  # exactly size, newline included
            peer.sendall(b"ok\n")
            assert await sockets.ReadLine(sock, 10) == b"ok\n"


# -- a line-based server and client, written with the operations ---------------------------------


async def echo_handler(conn: Socket) -> None:
    fh = conn.makefile()
    await conn.sendall(b"WELCOME TO ECHO SERVER !\r\n")
    try:
        while True:
            line = await fh.readline()
            if line.strip() == b"exit":
                await conn.sendall(b"GOOD BYE\r\n")
                return
            await conn.sendall(line)
    except ConnectionClosed:
        pass
    finally:
        conn.close()


async def echo_server(srv: Socket, handlers: list[asyncio.Task[None]]) -> None:
    while True:
        conn, _ = await srv.accept()
        handlers.append(asyncio.ensure_future(echo_handler(conn)))


async def line_client(address: Any, lines: list[bytes]) -> list[bytes]:
    sock = Socket()
    await sock.connect(address)
    fh = sock.makefile()
    replies = [await fh.readline()]
    for line in lines:
        await fh.write(line + b"\r\n")
        await fh.flush()
        replies.append(await fh.readline())
    sock.close()
    return replies


@pytest.mark.asyncio
async def test_line_echo_server_and_clients_as_asyncio_tasks() -> None:
    handlers: list[asyncio.Task[None]] = []
    with listener() as srv:
        server = asyncio.ensure_future(echo_server(srv, handlers))
        try:
            sessions = [[b"client %d line %d" % (c, n) for n in range(5)] for c in range(10)]
            results = await asyncio.gather(
                *(line_client(srv.getsockname(), lines + [b"exit"]) for lines in sessions)
            )
        finally:
            server.cancel()
            await asyncio.gather(server, *handlers, return_exceptions=True)
    for c, replies in enumerate(results):
        assert replies[0] == b"WELCOME TO ECHO SERVER !\r\n"
        assert replies[1:6] == [b"client %d line %d\r\n" % (c, n) for n in range(5)]
        assert replies[6] == b"GOOD BYE\r\n"


# -- the same scenarios on uvloop and on a loop without readiness callbacks -----------------------


class NoReadinessLoop(asyncio.SelectorEventLoop):
    """Like the Windows proactor loop: no add_reader/add_writer (its sock_* coroutines still
    work, through the private registration methods)."""

    def add_reader(self, *args: Any) -> None:
        raise NotImplementedError

    def add_writer(self, *args: Any) -> None:
        raise NotImplementedError


LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "no-readiness": NoReadinessLoop
}
if uvloop is not None:
    LOOP_FACTORIES["uvloop"] = uvloop.new_event_loop

SCENARIOS: list[Callable[[], Awaitable[None]]] = [
    test_recv_returns_nonempty_data_up_to_bufsize,
    test_recv_waits_for_data,
    test_recv_at_eof_raises_connection_closed_never_empty,
    test_recv_eof_while_waiting,
    test_recvall_gives_exactly_length_bytes,
    test_sendall_returns_total_and_delivers_everything,
    test_send_to_closed_peer_raises_connection_closed,
    test_concurrent_sendalls_do_not_interleave,
    test_concurrent_readers_are_served_in_order,
    test_accept_waits_for_a_client,
    test_connect_returns_the_socket_itself,
    test_connect_resolves_host_names,
    test_refused_connect_raises_socket_error,
    test_sendfile_sends_the_file_from_its_position,
    test_sendfile_from_a_file_without_descriptor,
    test_sendall_timeout_when_the_peer_does_not_read,
    test_timed_out_recv_leaves_no_reader_and_eats_no_data,
    test_cancelled_waits_leave_no_reader_or_writer,
    test_a_timed_out_reader_lets_the_next_one_through,
    test_close_fails_waiting_operations_with_connection_closed,
    test_file_read_gives_exactly_size_bytes_across_chunks,
    test_file_readline,
    test_file_write_is_buffered_until_flush,
    test_line_echo_server_and_clients_as_asyncio_tasks,
]


@pytest.mark.parametrize("loop_name", sorted(LOOP_FACTORIES))
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__[len("test_") :])
def test_scenario_on_other_loops(loop_name: str, scenario: Callable[[], Awaitable[None]]) -> None:
    with asyncio.Runner(loop_factory=LOOP_FACTORIES[loop_name]) as runner:
        runner.run(asyncio.wait_for(scenario(), HANG))


# -- through the WSGI server ---------------------------------------------------------------------


async def upper_line_server() -> tuple[asyncio.Server, tuple[str, int]]:
    """A small TCP service the apps relay to: each line comes back upper-cased."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(line.upper())
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, LOCAL, 0)
    return server, server.sockets[0].getsockname()


async def serving(app: Any, **settings: Any) -> tuple[cogen_aio.Server, str]:
    settings.setdefault("access_log", False)
    server = cogen_aio.Server(app, host=LOCAL, port=0, **settings)
    [(host, port)] = await server.start()
    return server, f"http://{host}:{port}"


@pytest.mark.asyncio
async def test_wsgi_app_relays_through_parked_socket_operations() -> None:
    backend, address = await upper_line_server()

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[Any]:
        call = environ["cogen.call"]
        proxy = environ["cogen.wsgi"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        sock = Socket()
        yield call(sock.connect)(address)
        assert proxy.result is sock, proxy.result
        yield call(sock.sendall)(environ["QUERY_STRING"].encode() + b"\n")
        sent = proxy.result
        yield call(sock.recv)(4096)
        reply = proxy.result
        # The operation classes through cogen.core, and an operation yielded directly.
        yield environ["cogen.core"].sockets.SendAll(sock, b"second\n")
        yield sock.makefile().readline()
        second = proxy.result
        sock.close()
        yield b"sent=%d reply=%s second=%s" % (sent, reply.strip(), second.strip())

    server, url = await serving(app)
    try:
        async with httpx.AsyncClient(timeout=HANG) as client:
            replies = await asyncio.gather(
                *(client.get(f"{url}/?hello{n}") for n in range(5))
            )
    finally:
        await server.shutdown()
        backend.close()
    assert [r.text for r in replies] == [
        f"sent={len(f'hello{n}') + 1} reply=HELLO{n} second=SECOND" for n in range(5)
    ]


@pytest.mark.asyncio
async def test_wsgi_app_gets_socket_failures_as_outcomes() -> None:
    with socket.create_server((LOCAL, 0)) as probe:
        refused = probe.getsockname()
    backend, address = await upper_line_server()
    outcomes: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[Any]:
        call = environ["cogen.call"]
        proxy = environ["cogen.wsgi"]
        start_response("200 OK", [])
        sock = Socket()
        yield call(sock.connect)(refused)
        outcomes.append((proxy.result, proxy.exception))
        sock.close()
        sock = Socket()
        sock.settimeout(0.05)
        yield call(sock.connect)(address)
        yield call(sock.recv)(10)  # the backend says nothing until it gets a line
        outcomes.append((proxy.result, proxy.exception))
        sock.close()
        yield b"done"

    server, url = await serving(app)
    try:
        async with httpx.AsyncClient(timeout=HANG) as client:
            reply = await client.get(url)
    finally:
        await server.shutdown()
        backend.close()
    assert reply.text == "done"
    (refusal, refusal_info), (timeout, timeout_info) = outcomes
    assert isinstance(refusal, SocketError) and refusal.errno == errno.ECONNREFUSED
    assert refusal_info[0] is SocketError and refusal_info[1] is refusal
    assert isinstance(timeout, OperationTimeout) and isinstance(timeout.args[0], sockets.Recv)
    assert timeout_info[1] is timeout


@pytest.mark.asyncio
async def test_client_gone_while_parked_on_recv_unregisters_the_socket() -> None:
    backend, address = await upper_line_server()
    parked = asyncio.Event()
    closed = asyncio.Event()
    held: list[Socket] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[Any]:
        call = environ["cogen.call"]
        start_response("200 OK", [])
        sock = Socket()
        held.append(sock)
        try:
            yield call(sock.connect)(address)
            parked.set()
            yield call(sock.recv)(10)  # never answered: the client leaves first
            yield b"unreachable"
        finally:
            closed.set()

    server, url = await serving(app)
    try:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(parked.wait(), HANG)
        await turns()
        assert held[0]._watching[0] is not None  # waiting for the backend
        writer.close()
        await asyncio.wait_for(closed.wait(), HANG)
        await turns()
        assert not registered(held[0])
    finally:
        held[0].close()
        await server.shutdown()
        backend.close()


# -- inside cogen coroutines under the Scheduler --------------------------------------------------


def test_echo_server_and_clients_as_cogen_coroutines() -> None:
    from cogen_aio.coroutines import coroutine
    from cogen_aio.scheduler import Scheduler

    sched = Scheduler(default_timeout=HANG)
    srv = listener()
    clients = 4
    replies: dict[int, list[bytes]] = {}

    @coroutine
    def server():
        for _ in range(clients):
            conn, addr = yield srv.accept()
            sched.add(handler, args=(conn, addr))
        srv.close()

    @coroutine
    def handler(sock, addr):
        fh = sock.makefile()
        yield sock.sendall(b"WELCOME TO ECHO SERVER !\r\n")
        while True:
            line = yield fh.readline(8192)
            if line.strip() == b"exit":
                yield sock.sendall(b"GOOD BYE")
                sock.close()
                return
            yield sock.sendall(line)

    @coroutine
    def client(n):
        sock = Socket()
        assert (yield sock.connect(srv.getsockname())) is sock
        fh = sock.makefile()
        got = replies[n] = [(yield fh.readline())]
        for i in range(3):
            assert (yield fh.write(b"%d.%d\r\n" % (n, i))) == ()
            assert (yield fh.flush()) == ()
            got.append((yield fh.readline()))
        yield sock.sendall(b"exit\r\n")
        try:
            while True:
                got.append((yield sock.recv(100)))
        except ConnectionClosed:
            got.append(b"<closed>")
        sock.close()

    sched.add(server)
    for n in range(clients):
        sched.add(client, args=(n,))
    sched.run()  # returns once every coroutine finished
    assert replies == {
        n: [b"WELCOME TO ECHO SERVER !\r\n"]
        + [b"%d.%d\r\n" % (n, i) for i in range(3)]
        + [b"GOOD BYE", b"<closed>"]
        for n in range(clients)
    }


def test_results_and_exceptions_at_the_yield_in_coroutines() -> None:
    from cogen_aio.coroutines import coroutine
    from cogen_aio.scheduler import Scheduler

    sock, peer = pair()
    seen: list[Any] = []

    @coroutine
    def main():
        peer.sendall(b"0123456789")
        seen.append((yield sock.recv(4)))
        seen.append((yield sockets.Recv(sock, 4)))
        seen.append((yield sockets.RecvAll(sock, 2)))
        seen.append((yield sock.send(b"ab")))
        seen.append((yield sock.sendall(b"cde")))
        seen.append(recv_exactly(peer, 5))
        op = sock.recv(10, timeout=0.02)
        try:
            yield op
        except OperationTimeout as exc:
            seen.append(exc.args[0] is op)
        yield Sleep(0)
        seen.append(sock._watching == [None, None])
        peer.close()
        try:
            yield sock.recv(10)
        except ConnectionClosed as exc:
            seen.append(type(exc))
        sock.close()

    sched = Scheduler()
    sched.add(main)
    sched.run()
    assert seen == [b"0123", b"4567", b"89", 2, 3, b"abcde", True, True, ConnectionClosed]


def test_scheduler_default_timeout_and_the_socket_timeout() -> None:
    from cogen_aio.coroutines import coroutine
    from cogen_aio.scheduler import Scheduler

    sock, peer = pair()
    seen: list[Any] = []

    @coroutine
    def main():
        try:
            yield sockets.Recv(sock, 10)  # no timeout of its own: the scheduler default
        except OperationTimeout:
            seen.append("default applied")
        sock.settimeout(-1)  # never, and the default does not apply
        seen.append((yield sock.recv(10)))
        sock.settimeout(0.02)  # the socket's own timeout beats the default
        try:
            yield sock.makefile().readline()
        except OperationTimeout as exc:
            seen.append(type(exc.args[0]).__name__)

    sched = Scheduler(default_timeout=0.05)
    sched.add(main)
    threading.Timer(0.2, peer.sendall, (b"late",)).start()
    sched.run()
    sock.close()
    peer.close()
    assert seen == ["default applied", b"late", "_FileReadLine"]


# -- the examples --------------------------------------------------------------------------------


def example(name: str) -> str:
    return os.path.join(ROOT, "examples", name)


def start_example_server() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, example("echo_server.py"), "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    first = proc.stdout.readline() if proc.stdout else ""
    assert first.startswith("Listening on 127.0.0.1:"), (first, proc.stderr and proc.stderr.read())
    return proc, int(first.rsplit(":", 1)[1])


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(HANG)
    except subprocess.TimeoutExpired:  # pragma: no cover - only if it ignores SIGTERM
        proc.kill()
        proc.wait()


def test_example_echo_server_with_the_example_line_client() -> None:
    proc, port = start_example_server()
    try:
        out = subprocess.run(
            [sys.executable, example("line_client.py"), str(port), "hello", "two words"],
            capture_output=True,
            text=True,
            timeout=HANG,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == [
            "WELCOME TO ECHO SERVER !", "hello", "two words", "GOOD BYE"
        ]
        piped = subprocess.run(
            [sys.executable, example("line_client.py"), str(port)],
            input="from\nstdin\n",
            capture_output=True,
            text=True,
            timeout=HANG,
            cwd=ROOT,
        )
        assert piped.stdout.splitlines() == [
            "WELCOME TO ECHO SERVER !", "from", "stdin", "GOOD BYE"
        ]
    finally:
        stop(proc)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read().count("Connection from 127.0.0.1:") == 2
    assert proc.stderr.read() == ""  # no handler died with a traceback


def test_example_echo_server_serves_clients_concurrently() -> None:
    proc, port = start_example_server()
    try:
        first = socket.create_connection((LOCAL, port), timeout=HANG)
        second = socket.create_connection((LOCAL, port), timeout=HANG)
        with first, second:
            files = [first.makefile("rwb"), second.makefile("rwb")]
            for fh in files:
                assert fh.readline() == b"WELCOME TO ECHO SERVER !\r\n"
            # Interleaved: the first client's session stays open while the second talks.
            for n, fh in enumerate(files * 2):
                fh.write(b"line %d\n" % n)
                fh.flush()
                assert fh.readline() == b"line %d\n" % n
            files[1].close()
            second.close()  # leaving without "exit": the handler sees ConnectionClosed
            # A later client's greeting means the server went past that EOF (it was ready first).
            with socket.create_connection((LOCAL, port), timeout=HANG) as third:
                assert third.makefile("rb").readline() == b"WELCOME TO ECHO SERVER !\r\n"
            files[0].write(b"exit\r\n")
            files[0].flush()
            assert files[0].read() == b"GOOD BYE"
    finally:
        stop(proc)
    assert proc.stderr is not None and proc.stderr.read() == ""


@pytest.mark.asyncio
async def test_irc_style_relay_through_the_server() -> None:
    """The shape of the original irc example: per session, a coroutine reads the upstream
    connection line by line into a queue; requests pull from the queue and push with sendall."""
    from cogen_aio.coroutines import AddCoro, coroutine
    from cogen_aio.queue import Queue

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b":server NOTICE * :welcome\r\n")
        while line := await reader.readline():
            writer.write(b":me " + line)
            await writer.drain()
        writer.close()

    backend = await asyncio.start_server(upstream, LOCAL, 0)
    address = backend.sockets[0].getsockname()
    sessions: dict[str, tuple[Socket, Queue]] = {}

    @coroutine
    def pump(sock: Socket, queue: Queue):
        fh = sock.makefile()
        try:
            while True:
                line = yield fh.readline()
                yield queue.put(line.rstrip(b"\r\n"))
        except ConnectionClosed:
            yield queue.put(b"<closed>")

    def app(environ: dict[str, Any], start_response: Any) -> Iterator[Any]:
        call, proxy = environ["cogen.call"], environ["cogen.wsgi"]
        action, _, arg = environ["PATH_INFO"].strip("/").partition("/")
        start_response("200 OK", [("Content-Type", "text/plain")])
        if action == "connect":
            sock = Socket()
            sock.settimeout(HANG)
            yield call(sock.connect)(address)
            queue = Queue()
            sessions[arg] = (sock, queue)
            yield call(AddCoro)(pump, args=(sock, queue))
            yield b"connected"
        elif action == "pull":
            yield call(sessions[arg][1].get)(timeout=HANG)
            yield proxy.result
        elif action == "push":
            text = environ["QUERY_STRING"].replace("+", " ")
            yield call(sessions[arg][0].sendall)(b"PRIVMSG #chan :%s\r\n" % text.encode())
            yield b"sent %d" % proxy.result
        elif action == "quit":
            sessions[arg][0].close()
            yield b"bye"

    server, url = await serving(app)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=HANG) as client:
            assert (await client.get("/connect/a")).text == "connected"
            assert (await client.get("/connect/b")).text == "connected"
            assert (await client.get("/pull/a")).text == ":server NOTICE * :welcome"
            waiting = asyncio.ensure_future(client.get("/pull/a"))  # parked on the queue
            await asyncio.sleep(0.02)
            assert not waiting.done()
            push = await client.get("/push/a?hello+there")
            assert push.text == "sent %d" % len(b"PRIVMSG #chan :hello there\r\n")
            assert (await waiting).text == ":me PRIVMSG #chan :hello there"
            await client.get("/push/b?other")
            assert (await client.get("/pull/b")).text == ":server NOTICE * :welcome"
            assert (await client.get("/pull/b")).text == ":me PRIVMSG #chan :other"
            assert (await client.get("/quit/a")).text == "bye"
            assert (await client.get("/pull/a")).text == "<closed>"  # the pump saw the close
    finally:
        for sock, _ in sessions.values():
            sock.close()
        await server.shutdown()
        backend.close()


def test_a_socket_outlives_the_loop_it_waited_on() -> None:
    # A loop closed while an operation waited (no cleanup ran) does not block the next loop.
    sock, peer = pair()
    with sock, peer:
        loop = asyncio.new_event_loop()
        stranded = sock.recv(10)._start(loop)
        loop.close()
        assert not stranded.done()
        peer.sendall(b"next loop")
        with asyncio.Runner() as runner:
            assert runner.run(asyncio.wait_for(sock.recv(10), HANG)) == b"next loop"
