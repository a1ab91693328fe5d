"""Soak: hello and long-poll traffic mixed for ``--minutes``, the server's RSS sampled throughout.

Runs as its own process against a server of bench/apps/soak.py and prints one JSON object:

- ``wrk -t1 -c50`` on ``/`` (hello) for the whole duration;
- beside it, cycles of long-poll: ``--lp-n`` connections park ``GET /poll``, then ``POST /publish``
  (repeated while it wakes fewer than were parked: a poller may still be on its way in), every
  poller must get its 200 ``published`` within 30 s;
- the server's VmRSS every 2 s. *After warm-up* is the sample at min(60 s, a quarter of the
  duration); *end* is the last sample before the traffic stops; both are taken under the same load.

Errors: wrk's socket errors and non-2xx answers, and long-poll connections reset, closed, answered
with anything but 200 ``published``, or unanswered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lpclient import POLL, PUBLISH, Exchange, Tally, rss_kib  # noqa: E402

from bench import wrk  # noqa: E402


async def lp_cycle(port: int, n: int, errors: Counter) -> int:
    """One long-poll cycle; returns the pollers answered correctly."""
    loop = asyncio.get_running_loop()
    tally = Tally(n)
    gate = asyncio.Semaphore(256)

    async def one() -> Exchange | None:
        async with gate:
            try:
                _, proto = await loop.create_connection(lambda: Exchange(POLL, tally), "127.0.0.1", port)
                return proto
            except OSError as exc:
                errors[f"connect {type(exc).__name__}"] += 1
                return None

    pollers = [p for p in await asyncio.gather(*(one() for _ in range(n))) if p]
    tally.expected = len(pollers)
    await asyncio.sleep(0.5)
    tally.published_at = time.perf_counter()
    deadline = time.monotonic() + 30
    while not tally.all_done.is_set() and time.monotonic() < deadline:
        done = Tally(1)
        _, publisher = await loop.create_connection(lambda: Exchange(PUBLISH, done), "127.0.0.1", port)
        try:
            await asyncio.wait_for(done.all_done.wait(), 10)
        except asyncio.TimeoutError:
            errors["publish unanswered"] += 1
        if publisher.status != 200:
            errors[f"publish {publisher.error or publisher.status}"] += 1
        publisher.transport.close()
        try:
            await asyncio.wait_for(tally.all_done.wait(), 1)
        except asyncio.TimeoutError:
            pass
    ok = 0
    for p in pollers:
        if p.error:
            errors[f"poll {p.error}"] += 1
        elif p.done_at is None:
            errors["poll unanswered after 30 s"] += 1
        elif p.status != 200 or p.body != b"published":
            errors[f"poll status {p.status} body {p.body[:20]!r}"] += 1
        else:
            ok += 1
        if p.transport:
            p.transport.close()
    return ok


async def run(args: argparse.Namespace) -> dict:
    duration = args.minutes * 60
    warm_at = min(60.0, duration / 4)
    out: dict = {"minutes": args.minutes, "rss_start_kib": rss_kib(args.server_pid), "warm_up_s": warm_at}
    samples: list[tuple[float, int]] = []
    start = time.monotonic()
    wrk_proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{args.connections}", f"-d{duration:g}s", "--latency", f"http://127.0.0.1:{args.port}/",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    errors: Counter = Counter()
    cycles = answered = 0

    async def sample() -> None:
        while True:
            try:
                samples.append((time.monotonic() - start, rss_kib(args.server_pid)))
            except (OSError, RuntimeError):
                errors["server gone"] += 1
                return
            await asyncio.sleep(2)

    sampler = asyncio.create_task(sample())
    while time.monotonic() - start < duration - 35:
        answered += await lp_cycle(args.port, args.lp_n, errors)
        cycles += 1
        await asyncio.sleep(1)
    stdout, stderr = await wrk_proc.communicate()
    sampler.cancel()
    hello = wrk.parse(stdout.decode())
    for kind, count in hello["errors"].items():
        errors[f"hello {kind}"] += count
    await asyncio.sleep(2)
    warm = min(samples, key=lambda s: abs(s[0] - warm_at)) if samples else (None, None)
    loaded = [s for s in samples if s[0] <= duration]
    out.update({
        "rss_warm_kib": warm[1], "rss_end_kib": loaded[-1][1] if loaded else None,
        "rss_max_kib": max(s[1] for s in samples) if samples else None,
        "rss_idle_after_kib": rss_kib(args.server_pid),
        "hello_requests": hello.get("requests"), "hello_rps": hello.get("rps"),
        "hello_p99_s": hello.get("p99_s"), "lp_cycles": cycles, "lp_answered": answered,
        "errors": dict(errors), "rss_samples": samples,
    })
    if out["rss_warm_kib"] and out["rss_end_kib"]:
        out["end_over_warm"] = out["rss_end_kib"] / out["rss_warm_kib"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50, help="wrk connections for hello")
    parser.add_argument("--lp-n", type=int, default=1000, help="pollers per long-poll cycle")
    args = parser.parse_args()
    import uvloop

    print(json.dumps(uvloop.run(run(args))))


if __name__ == "__main__":
    main()
