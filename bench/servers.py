"""The servers under test, and a small wrapper to start, probe and stop one as a subprocess."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BACKLOG = "1024"


@dataclass(frozen=True)
class Variant:
    """A server under test: its label and the argv that serves each app (``{port}`` filled in).
    A variant serves only the apps it has an argv for (thread-pool servers cannot long-poll)."""

    name: str
    label: str
    argv: dict[str, list[str]]  # app name ("hello", "longpoll", ...) -> argv
    under_test: bool = False  # runs cogen_aio (from the run's snapshot of the source)
    http: str = "h11"  # the HTTP parser, for the targets


def gevent_variant(stock: bool = False) -> Variant:
    extra = ["--stock"] if stock else []
    return Variant(
        name="gevent-stock" if stock else "gevent",
        label="gevent.pywsgi (stock, Nagle on)" if stock else "gevent.pywsgi + TCP_NODELAY",
        argv={
            app: [PYTHON, "-m", f"bench.peers.gevent_{app}", "--port", "{port}", "--backlog", BACKLOG, *extra]
            for app in ("hello", "longpoll")
        },
    )


def gunicorn_variant() -> Variant:
    argv = [PYTHON, "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", "127.0.0.1:{port}", "--backlog", BACKLOG,
            "--log-level", "warning", "bench.apps.hello:app"]
    return Variant("gunicorn-gevent", "gunicorn -k gevent (1 worker)", {"hello": argv})


def waitress_variant(threads: int = 64) -> Variant:
    argv = [PYTHON, "-m", "waitress", f"--threads={threads}", "--listen=127.0.0.1:{port}", f"--backlog={BACKLOG}",
            "bench.apps.hello:app"]
    return Variant(f"waitress-{threads}", f"waitress, {threads} threads", {"hello": argv})


def uvicorn_variant(kind: str, http: str) -> Variant:
    """``kind``: "a2wsgi" (bench/apps/hello.py through a2wsgi) or "asgi" (raw ASGI hello and long-poll)."""

    def argv(target: str) -> list[str]:
        return [PYTHON, "-m", "uvicorn", f"bench.peers.asgi:{target}", "--host", "127.0.0.1", "--port", "{port}",
                "--http", http, "--loop", "uvloop", "--backlog", BACKLOG, "--lifespan", "off",
                "--no-access-log", "--log-level", "warning"]

    if kind == "a2wsgi":
        return Variant(f"uvicorn-a2wsgi-{http}", f"uvicorn + a2wsgi, {http}", {"hello": argv("wsgi_hello")}, http=http)
    return Variant(f"uvicorn-asgi-{http}", f"uvicorn raw ASGI, {http}",
                   {"hello": argv("hello"), "longpoll": argv("longpoll")}, http=http)


def bare_h11_variant(loop: str) -> Variant:
    argv = [PYTHON, "-m", "bench.peers.bare_h11", "--port", "{port}", "--backlog", BACKLOG, "--loop", loop]
    return Variant(f"bare-h11-{loop}", f"bare h11 Protocol, canned bytes ({loop})", {"hello": argv})


COGEN_APPS = ("hello", "longpoll", "ops", "soak")


def cogen_variant(loop: str, http: str = "h11") -> Variant:
    def argv(app: str) -> list[str]:
        return [
            PYTHON, "-m", "cogen_aio", f"bench.apps.{app}:app", "--host", "127.0.0.1", "--port", "{port}",
            "--loop", loop, "--http", http, "--backlog", BACKLOG, "--no-access-log", "--log-level", "warning",
        ]

    name = f"cogen-{loop}" if http == "h11" else f"cogen-{http}" + ("" if loop == "uvloop" else f"-{loop}")
    label = f"cogen_aio --loop {loop}" + ("" if http == "h11" else f" --http {http}")
    return Variant(name, label, {app: argv(app) for app in COGEN_APPS}, under_test=True, http=http)


VARIANTS = {v.name: v for v in (
    gevent_variant(), gunicorn_variant(), waitress_variant(),
    uvicorn_variant("a2wsgi", "h11"), uvicorn_variant("a2wsgi", "httptools"),
    uvicorn_variant("asgi", "h11"), uvicorn_variant("asgi", "httptools"),
    bare_h11_variant("asyncio"), bare_h11_variant("uvloop"),
    cogen_variant("asyncio"), cogen_variant("uvloop"),
    cogen_variant("uvloop", "httptools"), cogen_variant("asyncio", "httptools"),
    gevent_variant(stock=True),
)}
BASELINE = "gevent"
# cogen-httptools joins the defaults when the measured cogen_aio offers --http httptools.
DEFAULT_VARIANTS = [name for name in VARIANTS if name not in ("gevent-stock", "cogen-httptools-asyncio")]
OPTIONAL_VARIANTS = {"cogen-httptools": "httptools", "cogen-httptools-asyncio": "httptools"}


def http_choices(cwd: Path) -> list[str]:
    """The ``--http`` choices of the cogen_aio found from ``cwd`` (read from its --help)."""
    done = subprocess.run([PYTHON, "-m", "cogen_aio", "--help"], cwd=cwd, capture_output=True, text=True)
    m = re.search(r"--http \{([^}]*)\}", done.stdout)
    return m.group(1).split(",") if m else ["h11"]


HELLO_PROBE = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
PUBLISH_PROBE = b"POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
OPS_PROBE = b"GET /ops?n=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
PROBES = {"hello": HELLO_PROBE, "longpoll": PUBLISH_PROBE, "ops": OPS_PROBE, "soak": HELLO_PROBE}


def snapshot(dest: Path) -> dict:
    """Copy cogen_aio/ and bench/apps/ to ``dest`` so that every server of the run runs the same code,
    even while the working tree changes; return what was copied (git HEAD, whether the tree differs
    from it, and a hash of the sources)."""
    shutil.rmtree(dest, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "cogen_aio", dest / "cogen_aio", ignore=ignore)
    shutil.copytree(ROOT / "bench" / "apps", dest / "bench" / "apps", ignore=ignore)
    digest = hashlib.sha256()
    for path in sorted((dest / "cogen_aio").rglob("*.py")):
        digest.update(path.relative_to(dest).as_posix().encode() + b"\0" + path.read_bytes())

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "unknown"

    return {"git_head": git("rev-parse", "--short", "HEAD"),
            "uncommitted_changes": bool(git("status", "--porcelain", "--", "cogen_aio")),
            "sources_sha256": digest.hexdigest()[:16]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exchange(port: int, request: bytes, timeout: float = 2.0) -> bytes:
    """Send one request on a fresh connection; return what arrived until the head and a short body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) == 0:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


class ServerProcess:
    """One server subprocess; its output goes to a log file that the report can quote."""

    def __init__(self, variant: Variant, app: str, log_dir: Path, cwd: Path = ROOT) -> None:
        self.variant, self.app, self.cwd = variant, app, cwd
        self.port = free_port()
        self.argv = [a.replace("{port}", str(self.port)) for a in variant.argv[app]]
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{variant.name}-{app}-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_timeout: float = 15.0) -> bytes:
        """Start and wait until the app answers its probe; return the probe's answer or raise."""
        log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode} before answering")
            try:
                answer = exchange(self.port, PROBES[self.app])
                if answer.startswith(b"HTTP/1.1 200"):
                    return answer
                raise RuntimeError(f"probe answered {answer[:200]!r}")
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"no answer within {ready_timeout:.0f} s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> dict:
        """SIGTERM, then SIGKILL after ``grace`` seconds; report how it went."""
        if self.proc is None or self.proc.poll() is not None:
            return {"exit": None if self.proc is None else self.proc.returncode, "already_exited": True}
        t = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
            return {"exit": self.proc.returncode, "stop_s": time.perf_counter() - t}
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return {"exit": self.proc.returncode, "killed_after_s": grace}

    def last_log_line(self) -> str:
        lines = self.log_tail().splitlines()
        return lines[-1] if lines else "(empty log)"

    def log_tail(self, chars: int = 1500) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-chars:].strip()
