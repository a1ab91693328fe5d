"""Long-poll fan-out client: park N ``GET /poll`` requests, publish once, time the fan-out.

Runs as its own process (it has its own open-files limit) and prints one JSON
object on stdout. Steps:

1. read the server's RSS (``--server-pid``) while it is idle;
2. open N keep-alive connections (at most ``--connect-concurrency`` connecting
   at once, so the listen backlog never overflows) and send ``GET /poll`` on each;
3. wait until the server's RSS stops changing (it has read and parked them all),
   read RSS again: growth / N is the memory per parked request;
4. on a connection opened beforehand, send ``POST /publish`` and time from that
   send to each poller's complete response.

Errors are counted, never retried: non-200 answers, connections reset or closed
before a complete answer, answers that arrive before the publish, and pollers
still unanswered when ``--timeout`` runs out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections import Counter
from pathlib import Path

POLL = b"GET /poll HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
PUBLISH = b"POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 9\r\n\r\npublished"


def rss_kib(pid: int) -> int:
    """The process's resident set size in KiB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def listen_overflows() -> int:
    """The kernel's count of connections dropped because an accept queue was full (all sockets)."""
    names, values = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()[:2]]
    return int(dict(zip(names, values)).get("ListenOverflows", 0))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile, q in [0, 100]."""
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def parse_response(buf: bytes) -> tuple[int, bytes] | None:
    """(status, body) once ``buf`` holds one complete response, else None."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = buf[:head_end].split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(b":", 1) for line in lines[1:])
    headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
    body = buf[head_end + 4:]
    if b"content-length" in headers:
        length = int(headers[b"content-length"])
        return (status, body[:length]) if len(body) >= length else None
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        return (status, body) if body.endswith(b"0\r\n\r\n") else None
    return None  # framed by close: completes in connection_lost


class Exchange(asyncio.Protocol):
    """One connection carrying one request; records when its answer completed."""

    def __init__(self, request: bytes | None, finished: "Tally") -> None:
        self.request = request
        self.finished = finished
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.status: int | None = None
        self.body = b""
        self.done_at: float | None = None
        self.error: str | None = None
        self.duplicate_length = False  # RFC 9110 §5.3: a singleton field sent twice; wrk rejects it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.request:
            self.transport.write(self.request)

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        if self.done_at is not None:
            return
        self.buf += data
        parsed = parse_response(bytes(self.buf))
        if parsed:
            self.complete(*parsed)
            head = bytes(self.buf).split(b"\r\n\r\n", 1)[0].lower()
            self.duplicate_length = head.count(b"\r\ncontent-length:") > 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done_at is None and self.error is None:
            self.error = "reset" if exc else "closed before answer"
            self.finished.record(self)

    def complete(self, status: int, body: bytes) -> None:
        self.done_at = time.perf_counter()
        self.status, self.body = status, body
        self.finished.record(self)


class Tally:
    """Counts finished exchanges and wakes the waiter when all N are in."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.finished = 0
        self.published_at: float | None = None
        self.early = 0
        self.all_done = asyncio.Event()

    def record(self, exchange: Exchange) -> None:
        if self.published_at is None and exchange.done_at is not None:
            self.early += 1
        self.finished += 1
        if self.finished >= self.expected:
            self.all_done.set()


async def open_pollers(args: argparse.Namespace, tally: Tally) -> tuple[list[Exchange], Counter]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(args.connect_concurrency)
    errors: Counter = Counter()

    async def one() -> Exchange | None:
        async with gate:
            try:
                _, proto = await loop.create_connection(lambda: Exchange(POLL, tally), args.host, args.port)
                return proto
            except OSError as exc:
                errors[type(exc).__name__ + (f" errno {exc.errno}" if exc.errno else "")] += 1
                return None

    results = await asyncio.gather(*(one() for _ in range(args.n)))
    return [p for p in results if p is not None], errors


async def settle(pid: int, minimum: float, maximum: float, window: float = 1.0, slack_kib: int = 64) -> float:
    """Wait until the server's RSS has moved less than ``slack_kib`` over ``window`` seconds."""
    start = time.perf_counter()
    await asyncio.sleep(minimum)
    samples: list[int] = []
    step = 0.1
    while time.perf_counter() - start < maximum:
        samples.append(rss_kib(pid))
        recent = samples[-int(window / step) - 1:]
        if len(recent) > window / step and max(recent) - min(recent) <= slack_kib:
            break
        await asyncio.sleep(step)
    return time.perf_counter() - start


async def run(args: argparse.Namespace) -> dict:
    loop = asyncio.get_running_loop()
    tally = Tally(args.n)
    out: dict = {"n": args.n, "rss_idle_kib": rss_kib(args.server_pid)}

    t, overflows = time.perf_counter(), listen_overflows()
    pollers, connect_errors = await open_pollers(args, tally)
    out["connect_s"] = time.perf_counter() - t
    # Accepting slower than the client connects overflows the backlog; the kernel then drops the
    # handshake and the client retries after 1 s. It slows this phase only, not what is measured.
    out["listen_overflows"] = listen_overflows() - overflows
    out["connected"] = len(pollers)
    out["connect_errors"] = dict(connect_errors)
    tally.expected = len(pollers)

    out["settle_s"] = await settle(args.server_pid, args.settle_min, args.settle_max)
    out["rss_parked_kib"] = rss_kib(args.server_pid)
    out["kib_per_request"] = (out["rss_parked_kib"] - out["rss_idle_kib"]) / max(1, len(pollers))

    publish_tally = Tally(1)
    _, publisher = await loop.create_connection(lambda: Exchange(None, publish_tally), args.host, args.port)
    tally.published_at = publish_tally.published_at = time.perf_counter()
    publisher.send(PUBLISH)
    try:
        await asyncio.wait_for(tally.all_done.wait(), args.timeout)
    except asyncio.TimeoutError:
        pass
    try:
        await asyncio.wait_for(publish_tally.all_done.wait(), 5)
    except asyncio.TimeoutError:
        pass
    out.update(summarise(pollers, publisher, tally))
    out["rss_after_kib"] = rss_kib(args.server_pid)
    for p in [*pollers, publisher]:
        if p.transport:
            p.transport.abort()
    return out


def summarise(pollers: list[Exchange], publisher: Exchange, tally: Tally) -> dict:
    t0 = tally.published_at or 0.0
    ok = [p for p in pollers if p.status == 200 and p.done_at and p.done_at >= t0]
    latencies = [p.done_at - t0 for p in ok]  # type: ignore[operator]
    errors: Counter = Counter(p.error for p in pollers if p.error)
    errors.update(f"status {p.status}" for p in pollers if p.status not in (None, 200))
    missing = sum(1 for p in pollers if p.done_at is None and p.error is None)
    if missing:
        errors["no answer before timeout"] = missing
    if tally.early:
        errors["answered before publish"] = tally.early
    bad_body = sum(1 for p in ok if p.body != b"published")
    if bad_body:
        errors["unexpected body"] = bad_body
    duplicates = sum(p.duplicate_length for p in [*pollers, publisher])
    return {
        "ok": len(ok),
        "errors": dict(errors),
        "warnings": {"duplicate Content-Length header": duplicates} if duplicates else {},
        "fanout_s": max(latencies) if latencies else None,
        "p50_s": percentile(latencies, 50),
        "p99_s": percentile(latencies, 99),
        "publish_status": publisher.status,
        "publish_error": publisher.error,
        "woken": publisher.body.decode(errors="replace") if publisher.status else None,
        "publish_latency_s": publisher.done_at - t0 if publisher.done_at else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n", type=int, required=True, help="parked requests")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--connect-concurrency", type=int, default=256)
    parser.add_argument("--settle-min", type=float, default=1.0, help="seconds before watching RSS")
    parser.add_argument("--settle-max", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the fan-out")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(run(args))
    else:
        result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
