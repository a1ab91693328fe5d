"""A line client for ``examples/echo_server.py``, written with the same socket operations.

    python examples/line_client.py PORT [LINE ...]

Connects to 127.0.0.1:PORT, prints the greeting, sends each LINE (or, without any, the lines
read from standard input) and prints each reply, then says ``exit`` and prints the farewell.
"""

import sys

from cogen_aio import sockets
from cogen_aio.coroutines import coroutine
from cogen_aio.scheduler import Scheduler


@coroutine
def client(port, lines):
    sock = sockets.Socket()
    yield sock.connect(("127.0.0.1", port))
    fh = sock.makefile()
    greeting = yield fh.readline()
    print(greeting.decode().rstrip("\r\n"))
    for line in lines:
        yield fh.write(line.encode() + b"\r\n")
        yield fh.flush()
        reply = yield fh.readline()
        print(reply.decode().rstrip("\r\n"))
    yield sock.sendall(b"exit\r\n")
    # The server's farewell has no newline: it ends where the server closes the connection,
    # and reads at end of file raise ConnectionClosed rather than return b"".
    farewell = b""
    try:
        while 1:
            farewell += yield sock.recv(4096)
    except sockets.ConnectionClosed:
        pass
    print(farewell.decode())
    sock.close()


def main(argv):
    port = int(argv[1])
    lines = argv[2:] or [line.rstrip("\r\n") for line in sys.stdin]
    sched = Scheduler(default_timeout=30)
    sched.add(client, args=(port, lines))
    sched.run()


if __name__ == "__main__":
    main(sys.argv)
