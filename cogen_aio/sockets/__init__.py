"""Sockets whose blocking calls are operations (cogen-api.md §11).

A :class:`Socket` wraps a non-blocking stdlib socket. Its synchronous calls (``bind``, ``listen``,
``setsockopt``, ``close``...) pass straight through; the calls that would block (``recv``,
``send``, ``sendall``, ``accept``, ``connect``, ``sendfile`` and everything on the file object
from ``makefile()``) return an :class:`~cogen_aio.ops.Operation`. A cogen coroutine yields it, a
WSGI app parks it (``environ['cogen.call'](sock.sendall)(data)``), asyncio code awaits it::

    conn, addr = yield srv.accept()          # cogen coroutine
    line = yield conn.makefile().readline()
    yield conn.sendall(line)

    data = await conn.recv(4096)             # asyncio

How it runs: an operation first tries its system call at once (the original's
``proactor_multiplex_first``); only if that would block does it wait, through
``loop.add_reader``/``add_writer`` on the running loop. Operations on one socket queue per
direction in the order they started, so two coroutines writing to one connection never
interleave their bytes and two readers are served in turn. On loops without readiness
callbacks (the Windows proactor) the waiting part goes through ``loop.sock_recv``,
``sock_sendall``, ``sock_accept``, ``sock_connect`` and ``sock_sendfile`` instead.

Timeouts follow cogen-api.md §4: the ``Socket`` methods give every operation the socket's own
timeout (``settimeout``; new sockets start with :func:`getdefaulttimeout`) unless a ``timeout``
keyword is passed; operation classes built directly (``yield Recv(conn, 4096)``) have no timeout
of their own, so the server's default operation timeout applies. A timed-out or cancelled
operation leaves nothing registered on the socket.

Reads never return an empty string: end of file raises :class:`ConnectionClosed`. Data that a
read had collected when the peer closed is dropped, as in the original; it is kept on the

The package's modules: ``errors`` (SocketError, ConnectionClosed), ``settings`` (the default
timeout and the legacy conveniences), ``waiting`` (how an operation waits on the loop), ``sock``
(the Socket class and its operation queues), ``operations`` (the operation base classes),
``reading``/``writing``/``connecting`` (the operations), ``fileobject`` (``makefile()``) and
``legacy`` (the 0.1.x operation names). Import the names from here.
"""

from __future__ import annotations

from typing import Any

# Process-wide settings, kept on the package (see settings.py for why).
_default_timeout: Any = None
_warned_str = False
_deprecated_seen: set[str] = set()

from .connecting import Accept, Connect  # noqa: E402
from .errors import ConnectionClosed, SocketError  # noqa: E402
from . import fileobject  # noqa: E402
from .fileobject import SocketFile  # noqa: E402
from .legacy import Read, ReadAll, ReadLine, Write, WriteAll  # noqa: E402
from .operations import SocketOperation  # noqa: E402
from .reading import Recv, RecvAll  # noqa: E402
from .settings import getdefaulttimeout, setdefaulttimeout  # noqa: E402
from .sock import Socket  # noqa: E402
from .writing import Send, SendAll, SendFile  # noqa: E402

#: Not in ``__all__`` but importable from here as before: makefile()'s default buffer size...
DEFAULT_BUFSIZE = fileobject.DEFAULT_BUFSIZE
#: ...and the original's class name (``cogen.core.sockets._fileobject``).
_fileobject = SocketFile

__all__ = [
    "Socket",
    "SocketError",
    "ConnectionClosed",
    "getdefaulttimeout",
    "setdefaulttimeout",
    "SocketOperation",
    "Recv",
    "Send",
    "SendAll",
    "Accept",
    "Connect",
    "SendFile",
    "RecvAll",
    "SocketFile",
    "Read",
    "ReadAll",
    "ReadLine",
    "Write",
    "WriteAll",
]

# The public classes keep presenting themselves as ``cogen_aio.sockets.X`` (reprs, tracebacks,
# ``cogen.core.sockets`` compatibility checks), wherever in the package they are defined.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
