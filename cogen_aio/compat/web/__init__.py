"""``cogen.web``: the WSGI server (``cogen.web.wsgi``) and the async middleware module.

The original's ``cogen.web.async`` cannot be imported by name on Python 3; its names are
re-exported here and live in ``cogen.web.async_``::

    from cogen.web import SynchronousInputMiddleware      # was: from cogen.web.async import ...
"""

from __future__ import annotations

from .async_ import *  # noqa: F401,F403
from .async_ import __all__  # noqa: F401
