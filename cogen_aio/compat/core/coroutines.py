"""``cogen.core.coroutines`` (cogen-api.md §6): the coroutine decorators, instances and ``local``."""

from __future__ import annotations

from cogen_aio.coroutines import *  # noqa: F401,F403
from cogen_aio.coroutines import __all__  # noqa: F401
