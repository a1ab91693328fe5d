"""``cogen.core.schedulers`` (cogen-api.md §7): ``Scheduler`` runs coroutines on a fresh asyncio
loop; its proactor and priority arguments are accepted and ignored."""

from __future__ import annotations

from cogen_aio.scheduler import Scheduler

__all__ = ["Scheduler"]
