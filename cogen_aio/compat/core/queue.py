"""``cogen.core.queue`` (cogen-api.md §8)."""

from __future__ import annotations

from cogen_aio.queue import Empty, Full, QDone, QGet, QJoin, QPut, Queue

__all__ = ["Queue", "Full", "Empty", "QGet", "QPut", "QDone", "QJoin"]
