"""Markdown tables from a run's JSON: medians, min–max over rounds, ratios against the baseline.

Regenerate a report:  .venv/bin/python -m bench.report bench/results/first-run.json
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path


def values(records: list[dict], key: str) -> list[float]:
    return [r[key] for r in records if r.get(key) is not None]


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def spread(xs: list[float], fmt: Callable[[float], str]) -> str:
    """'median (min–max)', or just the value for a single round, or '—'."""
    if not xs:
        return "—"
    if len(xs) == 1:
        return fmt(xs[0])
    return f"{fmt(statistics.median(xs))} ({fmt(min(xs))}–{fmt(max(xs))})"


def ratio(x: float | None, base: float | None) -> str:
    return f"{x / base:.2f}" if x is not None and base else "—"


def errors(records: list[dict]) -> str:
    total: dict[str, int] = {}
    for r in records:
        for kind, count in (r.get("errors") or {}).items():
            total[kind] = total.get(kind, 0) + count
    return ", ".join(f"{k}: {v}" for k, v in total.items()) or "0"


def rps(x: float) -> str:
    return f"{x:,.0f}"


def ms(x: float) -> str:
    return f"{x * 1000:.2f}" if x < 0.1 else f"{x * 1000:,.0f}"


def secs(x: float) -> str:
    return f"{x:.3f}"


def kib(x: float) -> str:
    return f"{x:.1f}"


def by_server(records: list[dict], **match: object) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for r in records:
        if all(r.get(k) == v for k, v in match.items()):
            grouped.setdefault(r["server"], []).append(r)
    return grouped


def hello_table(results: dict, connections: int) -> list[str]:
    groups = by_server(results["hello"], connections=connections)
    base = median(values(groups.get(results["meta"]["baseline"], []), "rps"))
    lines = [
        f"| server | req/s c{connections} | × gevent | p50 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, label in results["labels"].items():
        recs = groups.get(name, [])
        lines.append(f"| {label} | {spread(values(recs, 'rps'), rps)} | {ratio(median(values(recs, 'rps')), base)} "
                     f"| {spread(values(recs, 'p50_s'), ms)} | {spread(values(recs, 'p99_s'), ms)} "
                     f"| {errors(recs) if recs else 'no run'} |")
    return lines


def longpoll_table(results: dict, n: int) -> list[str]:
    groups = by_server(results["longpoll"], n=n)
    base_recs = groups.get(results["meta"]["baseline"], [])
    base_kib, base_fan = median(values(base_recs, "kib_per_request")), median(values(base_recs, "fanout_s"))
    lines = [
        f"| server (N={n:,}) | KiB per parked request | × gevent | fan-out s | × gevent "
        "| p50 s | p99 s | woken | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name, label in results["labels"].items():
        recs = groups.get(name, [])
        k, f = values(recs, "kib_per_request"), values(recs, "fanout_s")
        woken = ", ".join(sorted({str(r.get("woken")) for r in recs})) or "—"
        lines.append(f"| {label} | {spread(k, kib)} | {ratio(median(k), base_kib)} | {spread(f, secs)} "
                     f"| {ratio(median(f), base_fan)} | {spread(values(recs, 'p50_s'), secs)} "
                     f"| {spread(values(recs, 'p99_s'), secs)} | {woken} | {errors(recs) if recs else 'no run'} |")
    return lines


def render(results: dict) -> str:
    meta = results["meta"]
    args = meta["args"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    out = [f"# Benchmark run {meta['date']}", "",
           f"{meta['cpus']} CPUs; {versions}.", ""]
    if results["hello"]:
        out += [f"## Hello world (wrk -t1 -d{args['duration']:g}s --latency, keep-alive, 13-byte body)", "",
                f"Median over {args['rounds']} interleaved rounds, min–max in brackets. "
                "× gevent: req/s divided by gevent.pywsgi + TCP_NODELAY's (higher is better).", ""]
        for c in args["connections"]:
            out += hello_table(results, c) + [""]
    if results["longpoll"]:
        out += ["## Long-poll fan-out (N parked GET /poll, one POST /publish)", "",
                f"Median over {args['lp_rounds']} runs, a fresh server each, min–max in brackets. "
                "KiB: server RSS growth from idle to all N parked, divided by N. Fan-out: from sending the "
                "publish to the last complete answer; p50/p99: per-poller time from the publish. "
                "× gevent: divided by gevent's (lower is better). woken: what the publish answered.", ""]
        for n in args["fanout"]:
            out += longpoll_table(results, n) + [""]
    out += ["## Problems seen", ""]
    out += [f"- {p}" for p in results["problems"]] or ["None."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    path = Path(sys.argv[1])
    path.with_suffix(".md").write_text(render(json.loads(path.read_text())))
