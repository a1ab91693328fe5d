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


def cores(records: list[dict], key: str) -> str:
    """Median CPU use in cores over the rounds (max in brackets when it differs much)."""
    xs = values(records, key)
    if not xs:
        return "—"
    mid, top = statistics.median(xs), max(xs)
    return f"{mid:.2f}" + (f" (max {top:.2f})" if top - mid >= 0.1 else "")


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
        f"| server | req/s c{connections} | × gevent | p50 ms | p99 ms | server CPU | other CPU | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, label in results["labels"].items():
        recs = groups.get(name, [])
        lines.append(f"| {label} | {spread(values(recs, 'rps'), rps)} | {ratio(median(values(recs, 'rps')), base)} "
                     f"| {spread(values(recs, 'p50_s'), ms)} | {spread(values(recs, 'p99_s'), ms)} "
                     f"| {cores(recs, 'server_cores')} | {cores(recs, 'foreign_cores')} "
                     f"| {errors(recs) if recs else 'no run'} |")
    return lines


def longpoll_table(results: dict, n: int) -> list[str]:
    groups = by_server(results["longpoll"], n=n)
    base_recs = groups.get(results["meta"]["baseline"], [])
    base_kib, base_fan = median(values(base_recs, "kib_per_request")), median(values(base_recs, "fanout_s"))
    lines = [
        f"| server (N={n:,}) | KiB per parked request | × gevent | fan-out s | × gevent "
        "| p50 s | p99 s | woken | other CPU | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for name, label in results["labels"].items():
        recs = groups.get(name, [])
        k, f = values(recs, "kib_per_request"), values(recs, "fanout_s")
        woken = ", ".join(sorted({str(r.get("woken")) for r in recs})) or "—"
        lines.append(f"| {label} | {spread(k, kib)} | {ratio(median(k), base_kib)} | {spread(f, secs)} "
                     f"| {ratio(median(f), base_fan)} | {spread(values(recs, 'p50_s'), secs)} "
                     f"| {spread(values(recs, 'p99_s'), secs)} | {woken} | {cores(recs, 'foreign_cores')} "
                     f"| {errors(recs) if recs else 'no run'} |")
    return lines


def render(results: dict) -> str:
    meta = results["meta"]
    args = meta["args"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    source = meta.get("cogen_aio_source", {})
    tree = f"git {source.get('git_head')}" + (" with uncommitted changes" if source.get("uncommitted_changes") else "")
    out = [f"# Benchmark run {meta['date']}", "",
           f"{meta['cpus']} CPUs; {versions}. cogen_aio sources: {tree} "
           f"(sha256 {source.get('sources_sha256')}).", ""]
    if results["hello"]:
        out += [f"## Hello world (wrk -t1 -d{args['duration']:g}s --latency, keep-alive, 13-byte body)", "",
                f"Median over {args['rounds']} interleaved round(s), min–max in brackets. "
                "× gevent: req/s divided by gevent.pywsgi + TCP_NODELAY's (higher is better). "
                "server CPU / other CPU: cores used by the server / by processes outside the measurement "
                "(a busy neighbour makes the round suspect).", ""]
        for c in args["connections"]:
            out += hello_table(results, c) + [""]
    if results["longpoll"]:
        out += ["## Long-poll fan-out (N parked GET /poll, one POST /publish)", "",
                f"Median over {args['lp_rounds']} run(s), a fresh server each, min–max in brackets. "
                "KiB: server RSS growth from idle to all N parked, divided by N. Fan-out: from sending the "
                "publish to the last complete answer; p50/p99: per-poller time from the publish. "
                "× gevent: divided by gevent's (lower is better). woken: what the publish answered.", ""]
        for n in args["fanout"]:
            out += longpoll_table(results, n) + [""]
    out += ["## Problems seen", ""]
    out += [f"- {p}" for p in results["problems"]] or ["None."]
    return "\n".join(out) + "\n"


def plot(results: dict, path: Path) -> None:
    """Bar charts of the medians (min–max as error bars): hello req/s, fan-out seconds, KiB per request."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(f"hello req/s, c{c}", results["hello"], {"connections": c}, "rps")
              for c in results["meta"]["args"]["connections"]]
    panels += [(f"long-poll fan-out s, N={n:,}", results["longpoll"], {"n": n}, "fanout_s")
               for n in results["meta"]["args"]["fanout"]]
    panels += [("long-poll KiB per parked request", results["longpoll"], {}, "kib_per_request")]
    panels = [p for p in panels if p[1]]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    names = list(results["labels"])
    for ax, (title, records, match, key) in zip(axes[0], panels):
        groups = by_server(records, **match)
        xs = [values(groups.get(name, []), key) for name in names]
        mids = [statistics.median(x) if x else 0 for x in xs]
        err = [[m - min(x) if x else 0 for m, x in zip(mids, xs)], [max(x) - m if x else 0 for m, x in zip(mids, xs)]]
        ax.bar(range(len(names)), mids, yerr=err, capsize=3, color="#4c72b0")
        ax.set_xticks(range(len(names)), [n.replace("-", "\n") for n in names], fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    path = Path(sys.argv[1])
    data = json.loads(path.read_text())
    path.with_suffix(".md").write_text(render(data))
    plot(data, path.with_suffix(".png"))
