"""``cogen.core.pubsub`` (cogen-api.md §9)."""

from __future__ import annotations

from cogen_aio.pubsub import *  # noqa: F401,F403
from cogen_aio.pubsub import __all__  # noqa: F401
