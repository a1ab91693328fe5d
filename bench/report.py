"""Markdown tables from a run's JSON: medians, min–max over rounds, ratios against the baseline,
the issue's targets met or missed, and the plots.

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
    polled = {r["server"] for r in results["longpoll"]}
    for name, label in results["labels"].items():
        if name not in polled:
            continue
        recs = groups.get(name, [])
        k, f = values(recs, "kib_per_request"), values(recs, "fanout_s")
        woken = ", ".join(sorted({str(r.get("woken")) for r in recs})) or "—"
        lines.append(f"| {label} | {spread(k, kib)} | {ratio(median(k), base_kib)} | {spread(f, secs)} "
                     f"| {ratio(median(f), base_fan)} | {spread(values(recs, 'p50_s'), secs)} "
                     f"| {spread(values(recs, 'p99_s'), secs)} | {woken} | {cores(recs, 'foreign_cores')} "
                     f"| {errors(recs) if recs else 'no run'} |")
    return lines


def loop_of(name: str) -> str:
    return "asyncio" if "asyncio" in name else "uvloop"


def med(records: list[dict], key: str, **match: object) -> float | None:
    return median([r[key] for r in records if r.get(key) is not None and all(r.get(k) == v for k, v in match.items())])


def ops_rows(results: dict) -> tuple[list[str], dict]:
    """The op round-trip tables, and {(kind, name): ratio to asyncio.sleep(0)} for the targets."""
    ops = results.get("ops") or {}
    ratios: dict = {}
    base: dict[str, float] = {}
    lines = ["| loop | measurement | µs per op | × `await asyncio.sleep(0)` |", "| --- | --- | ---: | ---: |"]
    for record in ops.get("inproc", []):
        loop = record["loop"]
        b = median(record["per_op_s"]["await asyncio.sleep(0)"])
        base[loop] = b
        for name, xs in record["per_op_s"].items():
            m = median(xs)
            lines.append(f"| {loop} | {name} ({record['n']:,} in a row) | "
                         f"{spread([x * 1e6 for x in xs], lambda v: f'{v:.2f}')} | {ratio(m, b)} |")
            if name != "await asyncio.sleep(0)":
                ratios[("inproc", f"{name}, {loop}")] = m / b if b else None
    for record in ops.get("http", []):
        if record.get("per_op_s") is None:
            continue
        b = base.get(loop_of(record["server"]))
        label = results["labels"].get(record["server"], record["server"])
        lines.append(f"| {loop_of(record['server'])} | WSGI request parking {record['n']:,} Sleep(0), {label} "
                     f"(request {record['request_with_ops_s'] * 1e3:.2f} ms vs {record['request_without_s'] * 1e3:.2f} ms "
                     f"without) | {record['per_op_s'] * 1e6:.2f} | {ratio(record['per_op_s'], b)} |")
        ratios[("http", label)] = record["per_op_s"] / b if b else None
    return (lines if len(lines) > 2 else []), ratios


def soak_rows(results: dict) -> list[str]:
    soak = results.get("soak") or {}
    if not soak or soak.get("rss_warm_kib") is None:
        return [f"Soak did not complete: {soak.get('errors')}"] if soak else []
    label = results["labels"].get(soak["server"], soak["server"])
    mib = lambda k: f"{soak[k] / 1024:.1f}"  # noqa: E731
    return [
        "| server | minutes | RSS idle MiB | after warm-up MiB | end MiB | end ÷ warm-up | max MiB "
        "| idle after MiB | hello requests (req/s) | long-poll cycles (answered) | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| {label} | {soak['minutes']:g} | {mib('rss_start_kib')} | {mib('rss_warm_kib')} | {mib('rss_end_kib')} "
        f"| {soak['end_over_warm']:.3f} | {mib('rss_max_kib')} | {mib('rss_idle_after_kib')} "
        f"| {soak.get('hello_requests') or 0:,} ({soak.get('hello_rps') or 0:,.0f}) "
        f"| {soak['lp_cycles']} ({soak['lp_answered']:,}) | {errors([soak])} |",
    ]


def targets(results: dict) -> list[dict]:
    """Each target of the issue, computed from this run: what, value, limit, met (None: not measured)."""
    out: list[dict] = []
    hello, lp, labels = results["hello"], results["longpoll"], results["labels"]

    def add(what: str, value: float | None, limit: float, higher: bool, detail: str = "") -> None:
        met = None if value is None else (value >= limit if higher else value <= limit)
        out.append({"target": what, "value": value, "limit": ("≥ " if higher else "≤ ") + f"{limit:g}",
                    "met": met, "detail": detail})

    def rps(name: str) -> float | None:
        return med(hello, "rps", server=name, connections=50)

    def div(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    gevent = rps("gevent")
    a2wsgi = {n: rps(n) for n in ("uvicorn-a2wsgi-h11", "uvicorn-a2wsgi-httptools") if rps(n)}
    best_a2wsgi = max(a2wsgi, key=a2wsgi.get) if a2wsgi else None
    cogen = [n for n in labels if n.startswith("cogen-")]
    for name in cogen:
        if results["http"].get(name) != "h11" or not hello:
            continue
        label = labels[name]
        add(f"hello c50 {label}: req/s × gevent+TCP_NODELAY", div(rps(name), gevent), 1.4, True)
        p99 = med(hello, "p99_s", server=name, connections=50)
        add(f"hello c50 {label}: p99 ms", p99 * 1e3 if p99 is not None else None, 10, False)
        add(f"hello c50 {label}: req/s × uvicorn+a2wsgi", div(rps(name), a2wsgi.get(best_a2wsgi)), 4, True,
            f"against the faster a2wsgi variant ({labels.get(best_a2wsgi)})" if best_a2wsgi else "")
        bare = f"bare-h11-{loop_of(name)}"
        add(f"hello c50 {label}: req/s ÷ bare h11 ({loop_of(name)})", div(rps(name), rps(bare)), 0.9, True,
            "within 10 % of the bare h11 Protocol on the same loop")
    for name in cogen:
        if results["http"].get(name) != "httptools" or not hello:
            continue
        label = labels[name]
        add(f"hello c50 {label}: req/s × gevent+TCP_NODELAY", div(rps(name), gevent), 2.5, True)
        add(f"hello c50 {label}: req/s × uvicorn raw ASGI httptools", div(rps(name), rps("uvicorn-asgi-httptools")),
            0.75, True)
    for n in (10000, 19900):
        if not any(r["n"] == n for r in lp):
            continue
        g = med(lp, "fanout_s", server="gevent", n=n)
        for name in cogen:
            if not any(r["server"] == name for r in lp):
                continue
            label = labels[name]
            add(f"long-poll N={n:,} {label}: KiB per parked request", med(lp, "kib_per_request", server=name, n=n),
                5, False)
            limit = 0.3 if results["http"].get(name) == "httptools" else 0.4
            add(f"long-poll N={n:,} {label}: fan-out × gevent+TCP_NODELAY", div(med(lp, "fanout_s", server=name, n=n), g),
                limit, False)
    _, ratios = ops_rows(results)
    for (kind, name), r in ratios.items():
        what = "in process" if kind == "inproc" else "through the server"
        add(f"op round trip {what}, {name}: × await asyncio.sleep(0)", r, 2, False)
    soak = results.get("soak") or {}
    if soak:
        drift = abs(soak["end_over_warm"] - 1) * 100 if soak.get("end_over_warm") else None
        add(f"soak {soak.get('minutes', 0):g} min {labels.get(soak.get('server'), '')}: RSS end vs after warm-up, %",
            drift, 10, False, f"end ÷ warm-up = {soak['end_over_warm']:.3f}" if drift is not None else "")
        add(f"soak {soak.get('minutes', 0):g} min: errors", float(sum((soak.get("errors") or {}).values())), 0, False)
    return out


def targets_table(results: dict) -> list[str]:
    rows = targets(results)
    lines = ["| target | this run | limit | |", "| --- | ---: | ---: | --- |"]
    for t in rows:
        value = "—" if t["value"] is None else f"{t['value']:.2f}"
        verdict = {True: "met", False: "**missed**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['target']}{' (' + t['detail'] + ')' if t['detail'] else ''} | {value} | {t['limit']} "
                     f"| {verdict} |")
    met = sum(1 for t in rows if t["met"])
    missed = sum(1 for t in rows if t["met"] is False)
    return [f"{met} met, {missed} missed, {len(rows) - met - missed} not measured.", ""] + lines


def render(results: dict, pngs: list[Path] | None = None) -> str:
    meta = results["meta"]
    args = meta["args"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    source = meta.get("cogen_aio_source", {})
    tree = f"git {source.get('git_head')}" + (" with uncommitted changes" if source.get("uncommitted_changes") else "")
    out = [f"# Benchmark run {meta['date']}", "",
           f"{meta['cpus']} CPUs; {versions}. cogen_aio sources: {tree} "
           f"(sha256 {source.get('sources_sha256')}); its --http choices: "
           f"{', '.join(meta.get('cogen_http_choices', ['h11']))}. "
           f"The run took {meta.get('elapsed_min', '?')} min.", ""]
    if results["hello"] or results["longpoll"]:
        out += ["## Targets", "", "Computed from this run's medians (bench/report.py `targets`).", ""]
        out += targets_table(results) + [""]
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
    ops_lines, _ = ops_rows(results)
    if ops_lines:
        out += ["## Operation round trip", "",
                "One parked operation that completes at once, beside `await asyncio.sleep(0)` in a plain task on "
                "the same loop (median of 5 interleaved repeats, min–max in brackets). Through the server: the "
                "median time of one request parking 1,000 Sleep(0), minus that of the same request parking none, "
                "over 30 requests each on one keep-alive connection, divided by 1,000.", ""] + ops_lines + [""]
    soak = soak_rows(results)
    if soak:
        out += ["## Soak (hello and long-poll mixed)", "",
                "`wrk -t1 -c50` on hello for the whole time, and beside it cycles of 1,000 parked long-polls "
                "answered by one publish. RSS after warm-up: at min(60 s, a quarter of the run); end: the last "
                "sample under load.", ""] + soak + [""]
    if pngs:
        out += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in pngs] + [""]
    out += ["## Problems seen", ""]
    out += [f"- {p}" for p in results["problems"]] or ["None."]
    return "\n".join(out) + "\n"


def plot(results: dict, prefix: Path) -> list[Path]:
    """PREFIX-hello.png: req/s per server (median, min–max as error bars) at each concurrency;
    PREFIX-fanout.png: fan-out time and KiB per parked request against N. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    labels = results["labels"]
    conns = results["meta"]["args"]["connections"]
    if results["hello"]:
        names = [n for n in labels if any(r["server"] == n for r in results["hello"])]
        fig, axes = plt.subplots(len(conns), 1, figsize=(9, 3.2 * len(conns)), squeeze=False)
        for ax, c in zip(axes[:, 0], conns):
            groups = by_server(results["hello"], connections=c)
            xs = [values(groups.get(n, []), "rps") for n in names]
            mids = [statistics.median(x) if x else 0 for x in xs]
            err = [[m - min(x) if x else 0 for m, x in zip(mids, xs)],
                   [max(x) - m if x else 0 for m, x in zip(mids, xs)]]
            colors = ["#c44e52" if n.startswith("cogen") else "#8c8c8c" if n.startswith("bare") else "#4c72b0"
                      for n in names]
            ax.barh(range(len(names)), mids, xerr=err, capsize=3, color=colors)
            ax.set_yticks(range(len(names)), [labels[n] for n in names], fontsize=7)
            ax.invert_yaxis()
            ax.set_xlabel("req/s (median, min–max)", fontsize=8)
            ax.set_title(f"hello world, wrk -t1 -c{c}", fontsize=9)
        fig.tight_layout()
        path = prefix.parent / f"{prefix.name}-hello.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    if results["longpoll"]:
        names = [n for n in labels if any(r["server"] == n for r in results["longpoll"])]
        ns = sorted({r["n"] for r in results["longpoll"]})
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for key, ax, title in (("fanout_s", axes[0], "fan-out: publish to last answer (s)"),
                               ("kib_per_request", axes[1], "server RSS per parked request (KiB)")):
            for n in names:
                ys = [med(results["longpoll"], key, server=n, n=x) for x in ns]
                pts = [(x, y) for x, y in zip(ns, ys) if y is not None]
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=labels[n],
                            linestyle="-" if n.startswith("cogen") else "--")
            ax.set_xlabel("N parked clients", fontsize=8)
            ax.set_title(title, fontsize=9)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        path = prefix.parent / f"{prefix.name}-fanout.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


if __name__ == "__main__":
    path = Path(sys.argv[1])
    data = json.loads(path.read_text())
    prefix = path.with_suffix("")
    data.setdefault("http", {n: "h11" for n in data["labels"]})
    data.setdefault("ops", {})
    data.setdefault("soak", {})
    pngs = plot(data, prefix)
    path.with_suffix(".md").write_text(render(data, pngs))
