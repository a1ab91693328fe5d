"""``cogen.core.sockets`` (cogen-api.md §11), the 0.2 API and the 0.1.x aliases."""

from __future__ import annotations

from cogen_aio.sockets import *  # noqa: F401,F403
from cogen_aio.sockets import __all__  # noqa: F401
