"""A tiny IRC server for trying the relay and for its tests: loopback only, one process, no
persistence. Run it with

    python -m examples.irc.ircd            # 127.0.0.1:6667
    python -m examples.irc.ircd --port 0   # a free port; the first line printed says which

It speaks enough of RFC 1459/2812 for a chat: registration (NICK, USER, a welcome and a short
MOTD), JOIN, PART, NAMES, TOPIC, PRIVMSG, NOTICE, PING/PONG, QUIT. Like IRCv3's
``echo-message``, a PRIVMSG or NOTICE is also sent back to its sender, so a client sees exactly
what the server received. After registration it PINGs the client once and records the PONG.

It is written with plain asyncio streams, independently of cogen_aio, so that the relay's tests
exercise cogen_aio against a server that does not share its code.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys

HOST = "127.0.0.1"
SERVER_NAME = "irc.cogen.test"
MAX_LINE = 512
MOTD = (
    "This is a tiny IRC server for the cogen_aio examples.",
    "Try: /join #cogen, then say something.",
)
_NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]{0,29}\Z")


def parse(line: str) -> tuple[str, str, list[str]]:
    """``(prefix, command, params)`` of one IRC line (without its CR LF)."""
    prefix = ""
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    line, sep, trailing = line.partition(" :")
    params = line.split()
    if sep:
        params.append(trailing)
    command = params.pop(0).upper() if params else ""
    return prefix, command, params


class Client:
    def __init__(self, server: IrcServer, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.writer = writer
        self.nick: str | None = None
        self.user: str | None = None
        self.registered = False
        self.channels: set[str] = set()
        self.pongs: list[str] = []

    @property
    def mask(self) -> str:
        return f"{self.nick}!{self.user or self.nick}@127.0.0.1"

    def send(self, line: str) -> None:
        if not self.writer.is_closing():
            self.writer.write(line.encode("utf-8", "replace")[: MAX_LINE - 2] + b"\r\n")

    def reply(self, numeric: str, *params: str) -> None:
        """A numeric reply; the last parameter is sent as the trailing one."""
        middle, last = params[:-1], params[-1]
        self.send(" ".join((f":{SERVER_NAME}", numeric, self.nick or "*", *middle, f":{last}")))


class IrcServer:
    """``await IrcServer().start()`` listens on 127.0.0.1 (``port`` 0: a free one);
    ``await close()`` drops every client, which is what "the server went away" looks like."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.clients: set[Client] = set()
        self.nicks: dict[str, Client] = {}
        self.channels: dict[str, set[Client]] = {}
        self.topics: dict[str, str] = {}
        #: every line received, as ``(nick or "*", line)``, for tests
        self.received: list[tuple[str, str]] = []
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> IrcServer:
        self._server = await asyncio.start_server(self._serve, HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client in list(self.clients):
            client.writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = Client(self, writer)
        self.clients.add(client)
        try:
            while True:
                try:
                    data = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    break
                except asyncio.LimitOverrunError:
                    break
                line = data[:MAX_LINE].decode("utf-8", "replace").rstrip("\r\n")
                if not line:
                    continue
                self.received.append((client.nick or "*", line))
                if not self._handle(client, *parse(line)):
                    break
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._part_all(client, "QUIT", "Connection closed")
            self.clients.discard(client)
            if client.nick and self.nicks.get(client.nick.lower()) is client:
                del self.nicks[client.nick.lower()]
            writer.close()

    # -- commands --------------------------------------------------------------------------

    def _handle(self, client: Client, prefix: str, command: str, params: list[str]) -> bool:
        """Returns False when the connection should close."""
        if command in ("CAP", ""):
            return True
        if command == "PING":
            client.send(f":{SERVER_NAME} PONG {SERVER_NAME} :{params[0] if params else ''}")
            return True
        if command == "PONG":
            client.pongs.append(params[-1] if params else "")
            return True
        if command == "QUIT":
            reason = params[0] if params else "Quit"
            self._part_all(client, "QUIT", reason)
            client.send(f"ERROR :Closing link: {client.nick or '*'} ({reason})")
            return False
        if command == "NICK":
            self._nick(client, params)
            return True
        if command == "USER":
            if len(params) < 4:
                client.reply("461", "USER", "Not enough parameters")
            else:
                client.user = params[0][:10]
                self._maybe_welcome(client)
            return True
        if not client.registered:
            client.reply("451", "You have not registered")
            return True
        handler = getattr(self, "_cmd_" + command, None)
        if handler is None:
            client.reply("421", command, "Unknown command")
        else:
            handler(client, params)
        return True

    def _nick(self, client: Client, params: list[str]) -> None:
        if not params:
            client.reply("431", "No nickname given")
            return
        nick = params[0]
        if not _NICK.match(nick):
            client.reply("432", nick, "Erroneous nickname")
            return
        owner = self.nicks.get(nick.lower())
        if owner is not None and owner is not client:
            client.reply("433", nick, "Nickname is already in use")
            return
        old = client.nick
        if old is not None:
            self.nicks.pop(old.lower(), None)
            if client.registered:
                line = f":{client.mask} NICK :{nick}"
                for peer in self._peers(client) | {client}:
                    peer.send(line)
        client.nick = nick
        self.nicks[nick.lower()] = client
        self._maybe_welcome(client)

    def _maybe_welcome(self, client: Client) -> None:
        if client.registered or client.nick is None or client.user is None:
            return
        client.registered = True
        client.reply("001", f"Welcome to the cogen test network, {client.nick}")
        client.reply("002", f"Your host is {SERVER_NAME}, a tiny test server")
        client.reply("003", "This server was created just now")
        client.reply("004", SERVER_NAME, "tiny-1", "o", "o", "")
        client.reply("375", f"- {SERVER_NAME} Message of the day -")
        for text in MOTD:
            client.reply("372", f"- {text}")
        client.reply("376", "End of /MOTD command")
        client.send(f"PING :{SERVER_NAME}")

    def _cmd_JOIN(self, client: Client, params: list[str]) -> None:  # noqa: N802
        if not params:
            client.reply("461", "JOIN", "Not enough parameters")
            return
        for name in params[0].split(","):
            if not name.startswith("#") or len(name) < 2 or " " in name:
                client.reply("403", name, "No such channel")
                continue
            key = name.lower()
            if key in client.channels:
                continue
            members = self.channels.setdefault(key, set())
            members.add(client)
            client.channels.add(key)
            for peer in members:
                peer.send(f":{client.mask} JOIN {name}")
            topic = self.topics.get(key)
            if topic:
                client.reply("332", name, topic)
            self._names(client, name)

    def _cmd_NAMES(self, client: Client, params: list[str]) -> None:  # noqa: N802
        for name in (params[0].split(",") if params else []):
            self._names(client, name)

    def _names(self, client: Client, name: str) -> None:
        members = self.channels.get(name.lower(), set())
        nicks = sorted(member.nick or "*" for member in members)
        if nicks:
            client.reply("353", "=", name, " ".join(nicks))
        client.reply("366", name, "End of /NAMES list")

    def _cmd_PART(self, client: Client, params: list[str]) -> None:  # noqa: N802
        if not params:
            client.reply("461", "PART", "Not enough parameters")
            return
        reason = params[1] if len(params) > 1 else ""
        for name in params[0].split(","):
            key = name.lower()
            if key not in client.channels:
                client.reply("442", name, "You're not on that channel")
                continue
            for peer in self.channels[key]:
                peer.send(f":{client.mask} PART {name} :{reason}")
            self._leave(client, key)

    def _cmd_TOPIC(self, client: Client, params: list[str]) -> None:  # noqa: N802
        if not params:
            client.reply("461", "TOPIC", "Not enough parameters")
            return
        key = params[0].lower()
        if len(params) == 1:
            topic = self.topics.get(key)
            if topic:
                client.reply("332", params[0], topic)
            else:
                client.reply("331", params[0], "No topic is set")
            return
        if key not in client.channels:
            client.reply("442", params[0], "You're not on that channel")
            return
        self.topics[key] = params[1]
        for peer in self.channels[key]:
            peer.send(f":{client.mask} TOPIC {params[0]} :{params[1]}")

    def _cmd_PRIVMSG(  # noqa: N802
        self, client: Client, params: list[str], command: str = "PRIVMSG"
    ) -> None:
        if not params:
            client.reply("411", f"No recipient given ({command})")
            return
        if len(params) < 2 or not params[1]:
            client.reply("412", "No text to send")
            return
        target, text = params[0], params[1]
        line = f":{client.mask} {command} {target} :{text}"
        if target.startswith("#"):
            key = target.lower()
            if key not in client.channels:
                client.reply("404", target, "Cannot send to channel")
                return
            for peer in self.channels[key]:  # the sender too: echo-message
                peer.send(line)
        else:
            peer = self.nicks.get(target.lower())
            if peer is None:
                client.reply("401", target, "No such nick/channel")
                return
            peer.send(line)
            if peer is not client:
                client.send(line)

    def _cmd_NOTICE(self, client: Client, params: list[str]) -> None:  # noqa: N802
        self._cmd_PRIVMSG(client, params, "NOTICE")

    # -- helpers ---------------------------------------------------------------------------

    def _peers(self, client: Client) -> set[Client]:
        peers: set[Client] = set()
        for key in client.channels:
            peers |= self.channels.get(key, set())
        peers.discard(client)
        return peers

    def _part_all(self, client: Client, command: str, reason: str) -> None:
        if client.registered:
            line = f":{client.mask} {command} :{reason}"
            for peer in self._peers(client):
                peer.send(line)
        for key in list(client.channels):
            self._leave(client, key)

    def _leave(self, client: Client, key: str) -> None:
        client.channels.discard(key)
        members = self.channels.get(key)
        if members is not None:
            members.discard(client)
            if not members:
                del self.channels[key]
                self.topics.pop(key, None)


async def main(port: int) -> None:
    server = await IrcServer(port).start()
    print(f"IRC server on {server.address}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=6667, help="port on 127.0.0.1 (0: a free one)")
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        sys.exit(0)
