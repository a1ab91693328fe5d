"""The echo server of the original cogen README, ported to Python 3 by syntax, on the 0.2 API.

The README still used the 0.1 calls (``sock.write``, ``sock.readline(8192)``) that cogen 0.2
replaced; here each connection gets a ``@coroutine`` handler that reads lines with
``makefile().readline`` and echoes them with ``sendall``. Lines are bytes in Python 3.

Run ``python examples/echo_server.py [port]`` (default 7777; the README's port 777 needs root;
0 picks a free port and prints it), then ``python examples/line_client.py PORT hello world`` or
``telnet 127.0.0.1 PORT``. Typing ``exit`` ends the session.
"""

import socket
import sys

from cogen_aio import sockets
from cogen_aio.coroutines import coroutine
from cogen_aio.scheduler import Scheduler


@coroutine
def server(port):
    srv = sockets.Socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(10)
    print("Listening on %s:%s" % srv.getsockname(), flush=True)
    while 1:
        conn, addr = yield srv.accept()
        print("Connection from %s:%s" % addr, flush=True)
        m.add(handler, args=(conn, addr))


@coroutine
def handler(sock, addr):
    fh = sock.makefile()
    yield sock.sendall(b"WELCOME TO ECHO SERVER !\r\n")
    while 1:
        try:
            line = yield fh.readline(8192)
        except sockets.ConnectionClosed:
            # The README let this escape, which logs a traceback for every client that
            # leaves without saying "exit".
            sock.close()
            return
        if line.strip() == b"exit":
            yield sock.sendall(b"GOOD BYE")
            sock.close()
            return
        yield sock.sendall(line)


m = Scheduler()

if __name__ == "__main__":
    m.add(server, args=(int(sys.argv[1]) if len(sys.argv) > 1 else 7777,))
    m.run()
