"""``cogen.web.async``, for string imports only.

``import cogen.web.async`` is a syntax error on Python 3.7+, but ``importlib.import_module`` and
PasteDeploy (``cogen.web.async:SynchronousInputMiddleware``) can still load a module of that name.
Source code should import ``cogen.web.async_`` or ``cogen.web`` instead.
"""

from __future__ import annotations

from .async_ import *  # noqa: F401,F403
from .async_ import __all__  # noqa: F401
