"""The reference for "how fast can an h11 server be": an asyncio.Protocol that parses every request
with h11 and answers with canned bytes (no WSGI, no headers built per response).

One h11.Connection per request cycle: after a request's EndOfMessage the canned answer is written and
a fresh Connection is fed the previous one's trailing data (pipelined bytes). An empty remainder is
not fed: ``receive_data(b"")`` means end of file to h11.

Run from the repository root: ``python -m bench.peers.bare_h11 --port 8000 --loop uvloop``.
"""

from __future__ import annotations

import argparse
import asyncio

import h11

CANNED = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!")


class BareH11(asyncio.Protocol):
    __slots__ = ("transport", "conn")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.conn = h11.Connection(h11.SERVER)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        try:
            conn.receive_data(data)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    return
                if type(event) is h11.EndOfMessage:
                    self.transport.write(CANNED)
                    rest, closed = conn.trailing_data
                    conn = self.conn = h11.Connection(h11.SERVER)
                    if rest:
                        conn.receive_data(bytes(rest))
                    if closed:
                        conn.receive_data(b"")
                elif type(event) is h11.ConnectionClosed or event is h11.PAUSED:
                    self.transport.close()
                    return
        except h11.RemoteProtocolError:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.transport.close()

    def eof_received(self) -> bool:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = parser.parse_args()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(BareH11, args.host, args.port, backlog=args.backlog)
        async with server:
            await server.serve_forever()

    if args.loop == "uvloop":
        import uvloop

        runner = uvloop.run
    else:
        runner = asyncio.run
    try:
        runner(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    main()
