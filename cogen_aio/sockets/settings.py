"""Process-wide settings and the conveniences kept for legacy apps: the default socket timeout,
``str`` data accepted as UTF-8, and the 0.1.x deprecation warnings.

The mutable state (``_default_timeout``, ``_warned_str``, ``_deprecated_seen``) lives on the
``cogen_aio.sockets`` package itself, where it always lived: code that resets or inspects it there
(``sockets._default_timeout = None``) must change what these functions see.
"""

from __future__ import annotations

import logging
import sys
import warnings
from types import ModuleType
from typing import Any

error_log = logging.getLogger("cogen_aio.error")

_PACKAGE = __name__.rpartition(".")[0]


def _state() -> ModuleType:
    """The ``cogen_aio.sockets`` package, which holds the settings' values."""
    return sys.modules[_PACKAGE]


def getdefaulttimeout() -> Any:
    """The timeout new :class:`Socket` objects start with (None: the server's default)."""
    return _state()._default_timeout


def setdefaulttimeout(timeout: Any) -> None:
    """Set the timeout new :class:`Socket` objects start with: seconds, a ``timedelta``, ``-1``
    (never) or None. (The original's version forgot its ``global`` statement and did nothing.)"""
    _state()._default_timeout = timeout


def _as_buffer(data: Any) -> bytes | bytearray | memoryview:
    """Bytes to send. ``str`` from legacy apps (Python 2 byte strings) is encoded as UTF-8, with
    one warning per process (cogen-api.md §16)."""
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, str):
        state = _state()
        if not state._warned_str:
            state._warned_str = True
            error_log.warning(
                "str data given to a socket operation is encoded as UTF-8; send bytes"
            )
        return data.encode("utf-8")
    try:
        return memoryview(data).cast("B")
    except TypeError:
        raise TypeError(f"socket data must be bytes, not {type(data).__name__}") from None


def _deprecated(name: str, replacement: str) -> None:
    """One DeprecationWarning per 0.1.x name per process."""
    seen = _state()._deprecated_seen
    if name not in seen:
        seen.add(name)
        warnings.warn(
            f"{name} is the cogen 0.1 socket API; use {replacement}",
            DeprecationWarning,
            stacklevel=3,
        )
