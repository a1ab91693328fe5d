"""``python -m cogen_aio`` in a subprocess: the command line, signals and graceful shutdown."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio

from .conftest import uvloop
from .wire import HANG, close, read_head, read_response, read_to_eof, request, wait_for

APP = '''
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def mark(name):
    open(os.path.join(HERE, name), "w").close()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/sleep":
        mark("parked")
        environ["cogen.core"].events.Sleep(1)
        yield b""
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"slept"
    elif path == "/wait":
        try:
            start_response("200 OK", [("Content-Type", "text/plain")])
            mark("parked")
            yield environ["cogen.core"].events.WaitForSignal("never")
            yield type(environ["cogen.wsgi"].result).__name__.encode()
        finally:
            mark("closed")
    else:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"hello"
'''

SERVING = re.compile(rb"Serving on http://127\.0\.0\.1:(\d+)")

pytestmark = pytest.mark.asyncio(loop_factories=["asyncio"])


class Process:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, folder: Path) -> None:
        self.proc = proc
        self.port = port
        self.folder = folder
        self.stderr = b""

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), HANG)

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def exit_code(self) -> int:
        stdout, stderr = await asyncio.wait_for(self.proc.communicate(), HANG)
        self.stdout = stdout
        self.stderr += stderr
        assert self.proc.returncode is not None
        return self.proc.returncode

    async def marked(self, name: str) -> None:
        await wait_for(lambda: (self.folder / name).exists())


@pytest_asyncio.fixture
async def start(tmp_path: Path, http_parser: str) -> AsyncIterator[Any]:
    (tmp_path / "tmp_app.py").write_text(APP)
    started: list[asyncio.subprocess.Process] = []

    async def run(*options: str) -> Process:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cogen_aio", "tmp_app:app", "--host", "127.0.0.1",
            "--port", "0", "--http", http_parser, *options,
            cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        started.append(proc)
        assert proc.stderr is not None
        seen = b""
        while True:
            line = await asyncio.wait_for(proc.stderr.readline(), HANG)
            assert line, f"the server exited before serving: {seen.decode(errors='replace')}"
            seen += line
            match = SERVING.search(line)
            if match:
                process = Process(proc, int(match.group(1)), tmp_path)
                process.stderr = seen
                return process

    yield run
    for proc in started:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_serves_and_logs(start: Any) -> None:
    server = await start()
    reader, writer = await server.connect()
    writer.write(request(target="/hello"))
    response = await read_response(reader)
    assert (response.status, response.body) == (200, b"hello")
    await close(writer)
    server.signal(signal.SIGTERM)
    assert await server.exit_code() == 0
    assert b'"GET /hello HTTP/1.1" 200' in server.stdout  # the access line, on stdout
    assert b"SIGTERM received" in server.stderr


async def test_cli_header_and_log_switches(start: Any) -> None:
    server = await start("--no-server-header", "--no-date-header", "--no-access-log")
    reader, writer = await server.connect()
    writer.write(request())
    response = await read_response(reader)
    assert response.status == 200
    assert response.header("server") is None
    assert response.header("date") is None
    await close(writer)
    server.signal(signal.SIGTERM)
    assert await server.exit_code() == 0
    assert b"GET" not in server.stdout


@pytest.mark.parametrize(
    "loop",
    ["asyncio", pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None,
                                                                reason="uvloop not installed"))],
)
async def test_sigterm_lets_a_parked_request_finish(start: Any, loop: str) -> None:
    server = await start("--loop", loop)
    idle_reader, idle_writer = await server.connect()
    idle_writer.write(request(target="/idle"))
    assert (await read_response(idle_reader)).status == 200
    reader, writer = await server.connect()
    writer.write(request(target="/sleep"))
    await server.marked("parked")
    server.signal(signal.SIGTERM)
    # The idle keep-alive connection is closed at once...
    assert await read_to_eof(idle_reader) == b""
    # ...new connections are refused (the listener closed before idle connections were)...
    with pytest.raises(OSError):
        new_reader, new_writer = await server.connect()
        new_writer.write(request())
        await read_response(new_reader)
    # ...and the parked request completes normally.
    response = await read_response(reader)
    assert (response.status, response.body) == (200, b"slept")
    assert response.header("connection") == "close"
    assert await server.exit_code() == 0
    await close(writer)
    await close(idle_writer)


async def test_wake_parked_on_shutdown(start: Any) -> None:
    server = await start("--wake-parked-on-shutdown", "--timeout-graceful-shutdown", "30")
    reader, writer = await server.connect()
    writer.write(request(target="/wait"))
    head = await read_head(reader)
    assert head.status == 200
    await server.marked("parked")
    server.signal(signal.SIGTERM)
    # The long-poll answers with the ShuttingDown outcome, well inside the grace period.
    body = await read_to_eof(reader)
    assert b"ShuttingDown" in body
    assert body.endswith(b"0\r\n\r\n")  # a complete chunked response
    assert await server.exit_code() == 0
    assert (server.folder / "closed").exists()
    await close(writer)


async def test_grace_period_over_cuts_the_request(start: Any) -> None:
    server = await start("--timeout-graceful-shutdown", "0.5")
    reader, writer = await server.connect()
    writer.write(request(target="/wait"))
    assert (await read_head(reader)).status == 200
    await server.marked("parked")
    server.signal(signal.SIGTERM)
    body = await read_to_eof(reader)
    assert not body.endswith(b"0\r\n\r\n")  # cut, not completed
    assert await server.exit_code() == 0
    assert (server.folder / "closed").exists()  # the generator was closed
    assert b"grace period over" in server.stderr
    await close(writer)


async def test_second_sigint_forces(start: Any) -> None:
    server = await start("--timeout-graceful-shutdown", "60")
    reader, writer = await server.connect()
    writer.write(request(target="/wait"))
    assert (await read_head(reader)).status == 200
    await server.marked("parked")
    server.signal(signal.SIGINT)
    await asyncio.sleep(0.2)
    assert server.proc.returncode is None  # still waiting for the parked request
    server.signal(signal.SIGINT)
    await read_to_eof(reader)
    assert await server.exit_code() == 0
    assert (server.folder / "closed").exists()
    assert b"second SIGINT" in server.stderr
    await close(writer)


async def test_cli_rejects_an_unknown_option(start: Any, tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cogen_aio", "tmp_app:app", "--no-such-option",
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), HANG)
    assert proc.returncode == 2
    assert b"cogen_aio: error:" in stderr and b"Traceback" not in stderr
