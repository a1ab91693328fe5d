"""Operation round trip: what one parked operation that completes at once costs, beside
``await asyncio.sleep(0)`` in a plain task.

In process (``python bench/oprt.py --loop uvloop``; run.py runs it against the run's snapshot of
cogen_aio through PYTHONPATH): a legacy cogen coroutine that yields ``Sleep(0)`` 100,000 times, and
one that yields ``Signal`` (no waiters) as often, each timed per yield; the baseline is a plain task
that awaits ``asyncio.sleep(0)`` as often. Repeated ``--repeats`` times, interleaved; prints JSON.

Through the real server (``http_round_trip``): one keep-alive connection alternates
``GET /ops?n=1000`` (bench/apps/ops.py: the WSGI app parks ``Sleep(0)`` 1,000 times) and
``GET /ops?n=0``; the cost of one parked op is the difference of the medians divided by 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import time


async def plain_sleep0(n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        await asyncio.sleep(0)
    return (time.perf_counter() - t) / n


def legacy_bodies():
    from cogen_aio import Signal, Sleep, coroutine

    @coroutine
    def sleeps(n: int):
        for _ in range(n):
            yield Sleep(0)

    @coroutine
    def signals(n: int):
        for _ in range(n):
            yield Signal("nobody listens")

    return {"legacy Sleep(0)": sleeps, "legacy Signal, no waiter": signals}


async def legacy(coro, n: int) -> float:
    from cogen_aio import spawn

    t = time.perf_counter()
    await spawn(coro(n))
    return (time.perf_counter() - t) / n


async def measure(n: int, repeats: int) -> dict:
    bodies = legacy_bodies()
    per: dict[str, list[float]] = {"await asyncio.sleep(0)": [], **{k: [] for k in bodies}}
    await plain_sleep0(n // 10)  # warm-up
    for _ in range(repeats):
        per["await asyncio.sleep(0)"].append(await asyncio.get_running_loop().create_task(plain_sleep0(n)))
        for name, body in bodies.items():
            per[name].append(await legacy(body, n))
    return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import cogen_aio

    if args.loop == "uvloop":
        import uvloop

        per = uvloop.run(measure(args.n, args.repeats))
    else:
        per = asyncio.run(measure(args.n, args.repeats))
    print(json.dumps({"loop": args.loop, "n": args.n, "per_op_s": per, "cogen_aio_file": cogen_aio.__file__}))


def _request(sock: socket.socket, path: str) -> float:
    t = time.perf_counter()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep:
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(body) >= length:
                if not head.startswith(b"HTTP/1.1 200"):
                    raise ConnectionError(head[:100].decode(errors="replace"))
                return time.perf_counter() - t


def http_round_trip(port: int, n: int = 1000, requests: int = 30) -> dict:
    """Median time of ``GET /ops?n=N`` minus that of ``GET /ops?n=0``, per op."""
    with_ops, without = [], []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(3):
            _request(sock, f"/ops?n={n}")
        for _ in range(requests):
            with_ops.append(_request(sock, f"/ops?n={n}"))
            without.append(_request(sock, "/ops?n=0"))
    a, b = statistics.median(with_ops), statistics.median(without)
    return {"n": n, "request_with_ops_s": a, "request_without_s": b, "per_op_s": (a - b) / n}


if __name__ == "__main__":
    main()
