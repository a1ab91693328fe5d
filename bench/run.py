"""Side-by-side benchmark: cogen_aio (asyncio and uvloop loops) against gevent.pywsgi + TCP_NODELAY.

Run from the repository root:  .venv/bin/python -m bench.run   (see bench/README.md)

Hello world: wrk at 50 and 1 connections, servers interleaved A B C, A B C ... for --rounds.
Long-poll fan-out: for each N, a fresh server per run, N parked GET /poll, one POST /publish
(bench/lpclient.py, in its own process). Writes OUT.json (raw) and OUT.md (tables).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # allow `python bench/run.py` as well as `python -m bench.run`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, wrk
from bench.cpu import Meter, wait_quiet
from bench.servers import DEFAULT_VARIANTS, PYTHON, ROOT, VARIANTS, ServerProcess, Variant, snapshot

BENCH = ROOT / "bench"
LOGS = BENCH / ".work" / "logs"
SNAPSHOT = BENCH / ".work" / "snapshot"  # the cogen_aio sources this run measures


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--servers", default=",".join(DEFAULT_VARIANTS),
                   help=f"comma-separated, from: {', '.join(VARIANTS)}")
    p.add_argument("--rounds", type=int, default=5, help="interleaved hello rounds")
    p.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    p.add_argument("--connections", default="50,1", help="wrk concurrencies")
    p.add_argument("--fanout", default="1000,10000", help="parked requests per long-poll run")
    p.add_argument("--with-19900", action="store_true", help="add N=19900 (the most one process can hold)")
    p.add_argument("--lp-rounds", type=int, default=3, help="long-poll runs per server and N")
    p.add_argument("--skip-hello", action="store_true")
    p.add_argument("--skip-longpoll", action="store_true")
    p.add_argument("--wait-quiet", type=float, default=120, metavar="S",
                   help="before each measurement, wait up to S s for the machine to be idle (0: never)")
    p.add_argument("--client-loop", choices=("asyncio", "uvloop"), default="uvloop")
    p.add_argument("--out", default=str(BENCH / "results" / "latest"), help="path prefix for .json and .md")
    args = p.parse_args()
    args.servers = args.servers.split(",")
    args.connections = [int(c) for c in args.connections.split(",")]
    args.fanout = [int(n) for n in args.fanout.split(",")] + ([19900] if args.with_19900 else [])
    unknown = set(args.servers) - set(VARIANTS)
    if unknown:
        p.error(f"unknown servers: {', '.join(sorted(unknown))}")
    return args


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, file=sys.stderr, flush=True)


def check_hello(answer: bytes) -> str | None:
    """None if the probe's answer is the 13-byte hello with Content-Length, else what is wrong."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lengths = head.lower().count(b"\r\ncontent-length:")
    if lengths != 1 or b"content-length: 13" not in head.lower():
        return f"{lengths} Content-Length headers in head {head[:300]!r}"
    if body != b"Hello, world!":
        return f"body {body[:100]!r}"
    return None


class Findings:
    """Misbehaviour seen during the run: one line each, plus the server log tails they refer to."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.logs: dict[str, str] = {}

    def add(self, text: str, server: ServerProcess | None = None) -> None:
        if server is not None:
            text += f" (log: {server.last_log_line()})"
            self.logs[server.log_path.name] = server.log_tail()
        log("PROBLEM " + text)
        self.problems.append(text)


def start(variant: Variant, app: str, problems: Findings) -> ServerProcess | None:
    server = ServerProcess(variant, app, LOGS, cwd=SNAPSHOT if variant.under_test else ROOT)
    try:
        answer = server.start()
    except RuntimeError as exc:
        problems.add(f"{variant.name} {app}: did not start: {exc}", server)
        return None
    if app == "hello" and (wrong := check_hello(answer)):
        problems.add(f"{variant.name} hello: wrong answer: {wrong}")
    return server


def stop(server: ServerProcess, problems: Findings) -> dict:
    outcome = server.stop()
    if "killed_after_s" in outcome:
        problems.add(f"{server.variant.name} {server.app}: did not exit on SIGTERM, killed after "
                     f"{outcome['killed_after_s']:.0f} s", server)
    elif outcome.get("already_exited"):
        problems.add(f"{server.variant.name} {server.app}: had exited with {outcome['exit']}", server)
    return outcome


def hello_phase(variants: list[Variant], args: argparse.Namespace, problems: Findings) -> list[dict]:
    servers = [s for v in variants if (s := start(v, "hello", problems))]
    for s in servers:
        wrk.run(s.port, 50, 1)  # warm-up, discarded
    records = []
    for rnd in range(args.rounds):
        for s in servers:
            for c in args.connections:
                if not s.alive():
                    continue
                log(f"hello round {rnd + 1}/{args.rounds} {s.variant.name} c{c}")
                waited = wait_quiet(args.wait_quiet) if args.wait_quiet else 0.0
                meter = Meter(s.pid)
                result = wrk.run(s.port, c, args.duration)
                result.update(meter.read(), server=s.variant.name, round=rnd, connections=c, waited_s=waited)
                if result["errors"]:
                    problems.add(f"{s.variant.name} hello c{c} round {rnd + 1}: errors {result['errors']}")
                if not s.alive():
                    problems.add(f"{s.variant.name} hello: died during wrk c{c}", s)
                records.append(result)
    for s in servers:
        stop(s, problems)
    return records


def run_client(server: ServerProcess, n: int, args: argparse.Namespace) -> dict:
    argv = [PYTHON, str(BENCH / "lpclient.py"), "--port", str(server.port), "--n", str(n),
            "--server-pid", str(server.pid), "--loop", args.client_loop]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        return {"n": n, "errors": {"client hung": 1}}
    if done.returncode:
        return {"n": n, "errors": {"client failed": 1}, "client_stderr": done.stderr[-1500:]}
    return json.loads(done.stdout)


def longpoll_phase(variants: list[Variant], args: argparse.Namespace, problems: Findings) -> list[dict]:
    records = []
    for rnd in range(args.lp_rounds):
        for n in args.fanout:
            for v in variants:
                log(f"long-poll round {rnd + 1}/{args.lp_rounds} N={n} {v.name}")
                server = start(v, "longpoll", problems)
                if server is None:
                    continue
                waited = wait_quiet(args.wait_quiet) if args.wait_quiet else 0.0
                meter = Meter(server.pid)
                result = run_client(server, n, args)
                result.update(meter.read(), server=v.name, round=rnd, alive_after=server.alive(), waited_s=waited)
                result["stop"] = stop(server, problems)
                if result.get("warnings"):
                    problems.add(f"{v.name} long-poll N={n} round {rnd + 1}: {result['warnings']}")
                if result.get("errors") or str(result.get("woken")) != str(n):
                    problems.add(f"{v.name} long-poll N={n} round {rnd + 1}: woken {result.get('woken')}, "
                                 f"errors {result.get('errors')}", server)
                records.append(result)
    return records


def versions() -> dict:
    def cmd(argv: list[str], any_exit: bool = False, cwd: Path = ROOT) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=cwd)
            ok = done.returncode == 0 or any_exit
            return (done.stdout + done.stderr).strip().splitlines()[0] if ok else "unavailable"
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return "unavailable"

    found = {"python": platform.python_version(), "wrk": cmd(["wrk", "-v"], any_exit=True).split(" [")[0].split()[-1]}
    found["cogen_aio"] = cmd([PYTHON, "-m", "cogen_aio", "--version"], cwd=SNAPSHOT).split()[-1]
    for module in ("gevent", "uvloop", "h11"):
        found[module] = cmd([PYTHON, "-c", f"import {module}; print({module}.__version__)"])
    return found


def main() -> None:
    args = parse_args()
    variants = [VARIANTS[name] for name in args.servers]
    problems = Findings()
    source = snapshot(SNAPSHOT)
    results: dict = {
        "meta": {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": len(os.sched_getaffinity(0)),
                 "versions": versions(), "cogen_aio_source": source, "baseline": "gevent",
                 "args": {k: v for k, v in vars(args).items() if k != "out"}},
        "labels": {v.name: v.label for v in variants},
    }
    results["hello"] = [] if args.skip_hello else hello_phase(variants, args, problems)
    results["longpoll"] = [] if args.skip_longpoll else longpoll_phase(variants, args, problems)
    results["problems"], results["server_logs"] = problems.problems, problems.logs
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    out.with_suffix(".md").write_text(report.render(results))
    try:
        report.plot(results, out.with_suffix(".png"))
    except ImportError:
        log("matplotlib not installed: no chart")
    log(f"wrote {out.with_suffix('.json')}, .md and .png")


if __name__ == "__main__":
    main()
