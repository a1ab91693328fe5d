"""Browser tests: the examples in a real headless Chromium, driven with Playwright.

They use the system's Chromium (Debian's ``chromium`` package, which ``.ci/run`` installs when it
can; ``CHROMIUM=/path/to/chrome`` points at another) and never download a browser. Without
Chromium or Playwright they skip and say why.

Every server runs in its own process, started the way a user starts it
(``python -m cogen_aio examples.chat.app:app --port 0``), and the tests read the port from its
"Serving on http://..." line.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The README's screenshots are refreshed only on request (COGEN_AIO_SCREENSHOTS=1), so an ordinary
# test run leaves the working tree alone.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("COGEN_AIO_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "cogen_aio-screenshots"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP = 20  # seconds a server gets to say it is listening


def chromium_path() -> str | None:
    candidates = [os.environ.get("CHROMIUM"), shutil.which("chromium"),
                  shutil.which("chromium-browser"), "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


# Module scope, not session: while Playwright's synchronous API is running it owns an event loop
# in this thread, and the asyncio tests that follow need the thread to themselves.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[test]' installs it)")
    path = chromium_path()
    if path is None:
        pytest.skip(
            "Chromium could not be installed: no chromium executable found (.ci/run installs "
            "Debian's chromium package when it runs as root with apt-get; CHROMIUM=/path/to/"
            "chromium names another)"
        )
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        except Exception as exc:  # a broken install: say so instead of failing every test
            pytest.skip(f"Chromium at {path} could not be started: {exc}")
        try:
            yield browser
        finally:
            browser.close()


class ServerProcess:
    """A server in a child process; its output is collected, for failure messages."""

    def __init__(self, args: list[str], ready: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.ready = re.compile(ready)
        self.env = {**os.environ, **(env or {})}
        self.output: list[str] = []
        self.proc: subprocess.Popen[str] | None = None
        self.match: re.Match[str] | None = None
        self._seen = threading.Condition()

    def start(self) -> ServerProcess:
        self.match = None
        self.proc = subprocess.Popen(
            [sys.executable, *self.args], cwd=ROOT, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._drain, args=(stream,), daemon=True).start()
        deadline = time.monotonic() + STARTUP
        with self._seen:
            while self.match is None:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    self.stop()
                    raise AssertionError(f"{' '.join(self.args)} did not start:\n{self.log()}")
                self._seen.wait(min(left, 0.1))
        return self

    def _drain(self, stream: Any) -> None:
        for line in stream:
            with self._seen:
                self.output.append(line)
                if self.match is None:
                    self.match = self.ready.search(line)
                self._seen.notify_all()

    @property
    def port(self) -> int:
        assert self.match is not None
        return int(self.match.group(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log(self) -> str:
        return "".join(self.output)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def start_server() -> Iterator[Callable[..., ServerProcess]]:
    """``start_server(args, ready_regex)``: a started :class:`ServerProcess`, stopped at the end."""
    started: list[ServerProcess] = []

    def start(args: list[str], ready: str, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(args, ready, env).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


SERVING = r"Serving on http://127\.0\.0\.1:(\d+)"


def cogen_aio_args(app: str, port: int = 0) -> list[str]:
    """``python -m cogen_aio APP``, as the examples' READMEs say to run it."""
    return ["-m", "cogen_aio", app, "--port", str(port), "--wake-parked-on-shutdown"]


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path
