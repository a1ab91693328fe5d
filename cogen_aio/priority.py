"""The original's priority constants (cogen-api.md §3), accepted everywhere and ignored.

In cogen a priority decided who ran next after an operation: the coroutine that issued it, the
ones it woke, or neither ("LAST": everything to the end of the queue). Here ordering is always the
event loop's FIFO, which is what the original did under ``LAST``, the default of its
``Scheduler``: whoever issues an operation resumes through the loop, behind everything the
operation woke (a ``Signal``'s waiters run before the signaller continues, in the order they
started waiting; a coroutine that yields ``None`` goes behind everything already runnable).

Code that passes ``prio=priority.FIRST`` still works; it just gets the ``LAST`` ordering.
"""

from __future__ import annotations

__all__ = ["priority"]


class priority:  # noqa: N801 - the original's (lower-case) name
    """Priority names and values of ``cogen.core.util.priority``."""

    #: Resolved by the original to its scheduler's ``default_priority``.
    DEFAULT = -1
    #: Everything goes to the end of the queue: the only ordering this package implements.
    LAST = 0
    NOPRIO = 0
    #: Bit 1: the issuing coroutine continues first.
    CORO = 1
    #: Bit 2: the coroutines the operation affects run first.
    OP = 2
    #: Both bits.
    FIRST = 3
    PRIO = 3
