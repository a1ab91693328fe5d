"""Side-by-side benchmark: cogen_aio against gevent.pywsgi + TCP_NODELAY and the other peers.

Run from the repository root:  .venv/bin/python -m bench.run   (see bench/README.md)

1. Hello world: wrk at 50 and 1 connections, servers interleaved A B C, A B C ... for --rounds.
2. Long-poll fan-out: for each N, a fresh server per run, N parked GET /poll, one POST /publish
   (bench/lpclient.py, in its own process).
3. Operation round trip: bench/oprt.py in process, and one request parking 1,000 ops per server.
4. Soak: --soak-minutes of hello and long-poll traffic mixed (bench/soak.py).
Writes OUT.json (raw), OUT.md (tables and targets) and OUT-*.png (plots).
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
from bench import oprt
from bench.servers import (DEFAULT_VARIANTS, OPTIONAL_VARIANTS, PYTHON, ROOT, VARIANTS, ServerProcess, Variant,
                           http_choices, snapshot)

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
    p.add_argument("--fanout", default="1000,10000,19900", help="parked requests per long-poll run")
    p.add_argument("--with-19900", action="store_true", help="add N=19900 to --fanout if missing")
    p.add_argument("--lp-rounds", type=int, default=3, help="long-poll runs per server and N")
    p.add_argument("--soak-minutes", type=float, default=10, help="length of the soak (0: no soak)")
    p.add_argument("--soak-server", default="cogen-uvloop", help="the server the soak runs")
    p.add_argument("--quick", action="store_true",
                   help="a check of the harness: --rounds 1 --duration 3 --lp-rounds 1 --fanout 1000 "
                        "--soak-minutes 1 --wait-quiet 10 (explicit options still win)")
    p.add_argument("--skip-hello", action="store_true")
    p.add_argument("--skip-longpoll", action="store_true")
    p.add_argument("--skip-ops", action="store_true")
    p.add_argument("--wait-quiet", type=float, default=120, metavar="S",
                   help="before each measurement, wait up to S s for the machine to be idle (0: never)")
    p.add_argument("--client-loop", choices=("asyncio", "uvloop"), default="uvloop")
    p.add_argument("--out", default=str(BENCH / "results" / "latest"), help="path prefix for .json and .md")
    if "--quick" in sys.argv:
        p.set_defaults(rounds=1, duration=3, lp_rounds=1, fanout="1000", soak_minutes=1, wait_quiet=10)
    args = p.parse_args()
    args.servers = args.servers.split(",")
    args.connections = [int(c) for c in args.connections.split(",")]
    args.fanout = [int(n) for n in args.fanout.split(",")]
    if args.with_19900 and 19900 not in args.fanout:
        args.fanout.append(19900)
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
    servers = [s for v in variants if "hello" in v.argv and (s := start(v, "hello", problems))]
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
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return {"n": n, "errors": {"client hung": 1}}
    if done.returncode:
        return {"n": n, "errors": {"client failed": 1}, "client_stderr": done.stderr[-1500:]}
    return json.loads(done.stdout)


def longpoll_phase(variants: list[Variant], args: argparse.Namespace, problems: Findings) -> list[dict]:
    records = []
    for rnd in range(args.lp_rounds):
        for n in args.fanout:
            for v in [v for v in variants if "longpoll" in v.argv]:
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


def ops_phase(variants: list[Variant], args: argparse.Namespace, problems: Findings) -> dict:
    """In-process round trips on each loop (against the snapshot), then one request parking 1,000
    Sleep(0) through each cogen_aio server."""
    out: dict = {"inproc": [], "http": []}
    env = {**os.environ, "PYTHONPATH": str(SNAPSHOT)}
    for loop in ("asyncio", "uvloop"):
        log(f"op round trip in process, {loop}")
        waited = wait_quiet(args.wait_quiet) if args.wait_quiet else 0.0
        done = subprocess.run([PYTHON, str(BENCH / "oprt.py"), "--loop", loop], capture_output=True, text=True,
                              env=env, cwd=SNAPSHOT, timeout=600)
        if done.returncode:
            problems.add(f"op round trip ({loop}) failed: {done.stderr.strip()[-500:]}")
            continue
        record = json.loads(done.stdout)
        if not record["cogen_aio_file"].startswith(str(SNAPSHOT)):
            problems.add(f"op round trip measured {record['cogen_aio_file']}, not the snapshot")
        record["waited_s"] = waited
        out["inproc"].append(record)
    for v in variants:
        if "ops" not in v.argv:
            continue
        log(f"op round trip through {v.name}")
        server = start(v, "ops", problems)
        if server is None:
            continue
        waited = wait_quiet(args.wait_quiet) if args.wait_quiet else 0.0
        meter = Meter(server.pid)
        try:
            record = oprt.http_round_trip(server.port)
        except OSError as exc:
            problems.add(f"{v.name} ops app: {exc!r}", server)
            record = {"errors": {repr(exc): 1}}
        record.update(meter.read(), server=v.name, waited_s=waited)
        stop(server, problems)
        out["http"].append(record)
    return out


def soak_phase(variant: Variant, args: argparse.Namespace, problems: Findings) -> dict:
    log(f"soak {args.soak_minutes:g} min on {variant.name}")
    server = start(variant, "soak", problems)
    if server is None:
        return {}
    wait_quiet(args.wait_quiet) if args.wait_quiet else 0.0
    meter = Meter(server.pid)
    argv = [PYTHON, str(BENCH / "soak.py"), "--port", str(server.port), "--server-pid", str(server.pid),
            "--minutes", f"{args.soak_minutes:g}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=args.soak_minutes * 60 + 180)
        result = json.loads(done.stdout) if done.returncode == 0 else {
            "errors": {"soak client failed": 1}, "client_stderr": done.stderr[-1500:]}
    except subprocess.TimeoutExpired:
        result = {"errors": {"soak client hung": 1}}
    result.update(meter.read(), server=variant.name, alive_after=server.alive())
    if result.get("errors"):
        problems.add(f"{variant.name} soak: errors {result['errors']}", server)
    result["stop"] = stop(server, problems)
    return result


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
    for package in ("gevent", "uvloop", "h11", "httptools", "waitress", "uvicorn", "a2wsgi", "gunicorn"):
        found[package] = cmd([PYTHON, "-c", f"import importlib.metadata as m; print(m.version({package!r}))"])
    return found


def main() -> None:
    args = parse_args()
    problems = Findings()
    source = snapshot(SNAPSHOT)
    choices = http_choices(SNAPSHOT)
    names = list(args.servers)
    for name, http in OPTIONAL_VARIANTS.items():
        if http not in choices and name in names:
            names.remove(name)
            log(f"{name}: the measured cogen_aio has no --http {http} (choices: {', '.join(choices)}); left out")
    names = [n for n in VARIANTS if n in names]  # the canonical order: peers first, cogen_aio last
    variants = [VARIANTS[name] for name in names]
    results: dict = {
        "meta": {"date": time.strftime("%Y-%m-%d %H:%M"), "cpus": len(os.sched_getaffinity(0)),
                 "versions": versions(), "cogen_aio_source": source, "cogen_http_choices": choices,
                 "baseline": "gevent", "args": {k: v for k, v in vars(args).items() if k != "out"}},
        "labels": {v.name: v.label for v in variants},
        "http": {v.name: v.http for v in variants},
    }
    started = time.monotonic()
    results["hello"] = [] if args.skip_hello else hello_phase(variants, args, problems)
    results["longpoll"] = [] if args.skip_longpoll else longpoll_phase(variants, args, problems)
    results["ops"] = {} if args.skip_ops else ops_phase(variants, args, problems)
    soak_variant = VARIANTS.get(args.soak_server)
    results["soak"] = soak_phase(soak_variant, args, problems) if args.soak_minutes > 0 and soak_variant else {}
    results["meta"]["elapsed_min"] = round((time.monotonic() - started) / 60, 1)
    results["problems"], results["server_logs"] = problems.problems, problems.logs
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    try:
        pngs = report.plot(results, out)
    except ImportError:
        log("matplotlib not installed: no plots")
        pngs = []
    out.with_suffix(".md").write_text(report.render(results, pngs))
    log(f"wrote {out.with_suffix('.json')}, .md and {len(pngs)} plot(s)")


if __name__ == "__main__":
    main()
