"""Running a cogen ``Scheduler`` in a test without risking a hang."""

from __future__ import annotations

import threading

from cogen_aio.scheduler import Scheduler

HANG = 10  # seconds: only to turn a hang into a failure


def run_with_watchdog(sched: Scheduler, hang: float = HANG) -> None:
    """``sched.run()``, failing (instead of hanging) if it does not return."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        sched.shutdown()

    timer = threading.Timer(hang, fire)
    timer.daemon = True
    timer.start()
    try:
        sched.run()
    finally:
        timer.cancel()
    assert not fired.is_set(), "run() did not return by itself"
