"""Testing cogen_aio apps against the real server, in the test's own event loop.

- :class:`LiveServer` (:mod:`.server`) runs the real server on TCP (port 0), a UNIX socket, or an
  in-memory transport (:mod:`.memory`) that drives the same protocol code without a socket.
  ``await server.start()`` returns once it accepts connections; there is nothing to poll and no
  thread.
- :class:`Client` (:mod:`.client`) is a small HTTP/1.1 client built on h11: whole responses,
  responses streamed as they arrive (long-poll, chunked), pipelining, ``Expect: 100-continue``.
  :meth:`Client.connect` gives a :class:`Connection` (:mod:`.connection`) for raw bytes
  (malformed requests, byte-exact assertions); responses are :mod:`.response`'s.
- :class:`VirtualClock` (:mod:`.clock`) makes the loop's clock virtual: ``Sleep(30)``,
  ``queue.get(timeout=30)`` and keep-alive timeouts finish at once and always in the same order;
  waits are guarded in real time (:mod:`.waiting`).
- :func:`sync_app` (:mod:`.bridge`) turns a cogen app into a plain WSGI app for synchronous tests
  (WebTest).

The pytest fixtures in :mod:`cogen_aio.pytest_plugin` are thin wrappers around these classes; their
call shapes are :mod:`._typing`'s. Names are imported on first use (PEP 562), so the plugin can
take the clock alone without loading the client and the server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> module that defines it
_EXPORTS = {
    "LiveServer": "server",
    "Client": "client",
    "Connection": "connection",
    "Response": "response",
    "StreamResponse": "response",
    "Headers": "response",
    "ServerDisconnected": "response",
    "MemoryTransport": "memory",
    "VirtualClock": "clock",
    "VirtualClockUnavailable": "clock",
    "virtual_clock_loop": "clock",
    "wait_until": "waiting",
    "build_request": "connection",
    "sync_app": "bridge",
    "SyncApp": "bridge",
    "CogenServerFactory": "_typing",
    "CogenClientFactory": "_typing",
    "CogenHttpxFactory": "_typing",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cogen_aio.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from ._typing import CogenClientFactory, CogenHttpxFactory, CogenServerFactory
    from .bridge import SyncApp, sync_app
    from .client import Client
    from .clock import VirtualClock, VirtualClockUnavailable, virtual_clock_loop
    from .connection import Connection, build_request
    from .memory import MemoryTransport
    from .response import Headers, Response, ServerDisconnected, StreamResponse
    from .server import LiveServer
    from .waiting import wait_until
