"""How much CPU processes outside the measurement took while it ran.

The machine is shared and has 2 cores: one busy neighbour halves a server's
share. Each measurement records ``foreign_cores``: the machine's busy CPU time
(/proc/stat) minus the server's, the load generator's and this process's, divided
by the elapsed time. Around 0 is a clean measurement; 0.5 means half a core went
elsewhere and the figure is suspect.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def children(pid: int) -> list[int]:
    """The live children of a process (all its threads')."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def process_s(pid: int) -> float:
    """utime + stime of a live process and its live descendants (a pre-fork server's workers);
    0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK + sum(process_s(c) for c in children(pid))


def own_s() -> float:
    """This process plus its waited-for children (wrk, the long-poll client)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Meter:
    """Measures the server's CPU use and the foreign CPU use over one measurement."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid
        self.t, self.busy, self.server, self.own = time.monotonic(), machine_busy_s(), process_s(server_pid), own_s()

    def read(self) -> dict:
        elapsed = time.monotonic() - self.t
        server = process_s(self.pid) - self.server
        foreign = machine_busy_s() - self.busy - server - (own_s() - self.own)
        return {"server_cores": round(server / elapsed, 3), "foreign_cores": round(max(0.0, foreign) / elapsed, 3)}


def wait_quiet(max_wait: float, threshold: float = 0.2, window: float = 1.0) -> float:
    """Wait (at most ``max_wait`` s) for a ``window`` in which the machine's busy CPU is below
    ``threshold`` cores while nothing of ours runs; return the seconds waited."""
    start = time.monotonic()
    while True:
        busy = machine_busy_s()
        time.sleep(window)
        if (machine_busy_s() - busy) / window < threshold or time.monotonic() - start >= max_wait:
            return time.monotonic() - start
