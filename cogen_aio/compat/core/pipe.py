"""``cogen.core.pipe`` (cogen-api.md §10)."""

from __future__ import annotations

from cogen_aio.pipe import IterationStopped, Iterate, chunk, sentinel

__all__ = ["Iterate", "IterationStopped", "chunk", "sentinel"]
