"""gevent.pywsgi runner shared by the gevent peers.

Stock gevent.pywsgi leaves Nagle's algorithm on, and its head and body go out
in separate sends, so every keep-alive response waits ~40 ms for the client's
delayed ACK (peers.md). The fair peer sets TCP_NODELAY on every accepted
socket; ``--stock`` keeps the stock behaviour, to show the stall.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Callable

from gevent.pywsgi import WSGIServer


class NoDelayWSGIServer(WSGIServer):
    """WSGIServer that disables Nagle's algorithm on each accepted connection."""

    def handle(self, sock: socket.socket, address: tuple) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def main(app: Callable, description: str) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--stock", action="store_true", help="leave Nagle on (stock gevent)")
    args = parser.parse_args()
    server_class = WSGIServer if args.stock else NoDelayWSGIServer
    server = server_class((args.host, args.port), app, backlog=args.backlog, log=None)
    server.serve_forever()
