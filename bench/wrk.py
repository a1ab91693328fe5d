"""Run wrk against a port and parse its ``--latency`` output."""

from __future__ import annotations

import re
import subprocess

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def parse(output: str) -> dict:
    """req/s, latency percentiles (seconds), request count and error counts from wrk's text."""
    result: dict = {"errors": {}}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result["rps"] = float(m.group(1))
    if m := re.search(r"(\d+) requests in", output):
        result["requests"] = int(m.group(1))
    for pct in ("50", "99"):
        if m := re.search(rf"^\s+{pct}%\s+(\S+)", output, re.M):
            result[f"p{pct}_s"] = seconds(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        for kind, count in zip(("connect", "read", "write", "timeout"), m.groups()):
            if int(count):
                result["errors"][kind] = int(count)
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        result["errors"]["non-2xx"] = int(m.group(1))
    if result.get("requests") == 0:  # wrk prints zero latencies when nothing completed
        for key in ("p50_s", "p99_s"):
            result.pop(key, None)
    return result


def run(port: int, connections: int, duration: float, path: str = "/") -> dict:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    except subprocess.TimeoutExpired:
        return {"errors": {"wrk hung": 1}}
    result = parse(done.stdout)
    if done.returncode or "rps" not in result:
        result["errors"]["wrk failed"] = 1
        result["wrk_output"] = (done.stdout + done.stderr)[-800:]
    return result
