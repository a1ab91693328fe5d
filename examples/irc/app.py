"""A web IRC client's backend: the browser talks HTTP to this relay, the relay talks IRC. Run

    python -m examples.irc.ircd                      # a tiny IRC server on 127.0.0.1:6667
    python -m cogen_aio examples.irc.app:app --port 8001

and open http://127.0.0.1:8001/.

This is the IRC example of the original cogen, re-hosted from Pylons on plain WSGI and WebOb, in
the same style: one cogen coroutine per IRC server connection, written with the legacy
``cogen.core.sockets``, reads lines, parses them and puts events in a bounded queue; the request
handlers are generators that park operations through ``environ['cogen.*']``.

* ``POST /connect`` (form field ``server``, ``host:port``) starts a connection's coroutine with
  ``AddCoro`` and answers ``{"id": ...}``.
* ``GET /pull/ID`` answers a JSON list of events ``[prefix, command, params]``: whatever is
  queued, or else the next event within 30 seconds, or ``[]``. Numeric replies are named
  (``001`` is ``WELCOME``). The relay itself adds ``CONNECTING``, ``CONNECTED`` and, when the
  connection ends, one ``ERROR`` event with the reason; after that the pull answers 410 Gone.
* ``POST /push/ID`` takes a JSON list of messages, each a list of strings
  (``[["PRIVMSG", "#cogen", "hello, world"]]``), and writes them to the server as IRC lines.
  The last parameter may contain spaces (it is sent as the trailing parameter; the original
  rejected any space, so its own page could not send a sentence); line breaks are refused.

The relay answers the server's PINGs itself. A connection nobody pulls from for a minute is
closed, and its events queue holds at most 100 events (a server that talks to nobody is
dropped). Connections belong to the browser session that opened them (a signed cookie, as in
``examples/chat``; secret from ``IRC_SECRET`` or random per process).

Which servers the relay may connect to is the ``IRC_SERVERS`` environment variable: a comma-
separated list of host names or addresses, ``127.0.0.1,localhost,::1`` by default, ``*`` for any.
A relay that connects anywhere is an open TCP proxy: do not expose it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import socket
from pathlib import Path

from webob import Request, Response
from webob.cookies import SignedSerializer

import cogen_aio.compat

# ``python -m cogen_aio`` maps the legacy ``cogen`` package onto cogen_aio.compat already; doing it
# here too lets tests and other servers import this module.
cogen_aio.compat.install()

from cogen.core import events, queue, sockets  # noqa: E402
from cogen.core.coroutines import coroutine  # noqa: E402

from cogen_aio import ShuttingDown  # noqa: E402

log = logging.getLogger("cogen_aio.error.irc")

PAGE = (Path(__file__).parent / "index.html").read_bytes()

PULL_TIMEOUT = 30  # seconds a pull waits for an event (the original's value)
CONNECT_TIMEOUT = 15
EVENTS = 100  # events queued for the page (the original's value)
EVENT_TIMEOUT = 45  # seconds the connection waits for room in a full queue before giving up
IDLE = 60  # seconds without a pull before the connection is closed
LINGER = 60  # seconds a finished connection keeps its last events for the page
MAX_LINE = 512  # bytes in an IRC line, CR LF included (RFC 2812 §2.3)
MAX_CONNECTIONS = 100
PER_SESSION = 5
COOKIE = "irc_session"

_COMMAND = re.compile(r"[A-Za-z]+\Z|[0-9]{3}\Z")

# The numeric replies a client cares about, by name (RFC 2812 §5).
NUMERICS = {
    "001": "WELCOME", "002": "YOURHOST", "003": "CREATED", "004": "MYINFO",
    "005": "FEATURELIST", "221": "UMODEIS", "251": "LUSERCLIENT", "252": "LUSEROP",
    "253": "LUSERUNKNOWN", "254": "LUSERCHANNELS", "255": "LUSERME", "265": "N_LOCAL",
    "266": "N_GLOBAL", "301": "AWAY", "311": "WHOISUSER", "318": "ENDOFWHOIS",
    "324": "CHANNELMODEIS", "331": "NOTOPIC", "332": "CURRENTTOPIC", "333": "TOPICINFO",
    "353": "NAMREPLY", "366": "ENDOFNAMES", "372": "MOTD", "375": "MOTDSTART",
    "376": "ENDOFMOTD", "401": "NOSUCHNICK", "403": "NOSUCHCHANNEL",
    "404": "CANNOTSENDTOCHAN", "411": "NORECIPIENT", "412": "NOTEXTTOSEND",
    "421": "UNKNOWNCOMMAND", "422": "NOMOTD", "431": "NONICKNAMEGIVEN",
    "432": "ERRONEUSNICKNAME", "433": "NICKNAMEINUSE", "442": "NOTONCHANNEL",
    "451": "NOTREGISTERED", "461": "NEEDMOREPARAMS", "462": "ALREADYREGISTERED",
    "471": "CHANNELISFULL", "473": "INVITEONLYCHAN", "474": "BANNEDFROMCHAN",
    "475": "BADCHANNELKEY", "482": "CHANOPRIVSNEEDED",
}


def _loop_time():
    # The event loop's clock, so the testing kit's virtual clock moves it too.
    return asyncio.get_running_loop().time()


def parsemsg(line):
    """``(prefix, command, params)`` of an IRC line (RFC 2812 §2.3.1): the optional
    ``:prefix``, the command, then parameters, the last one after `` :`` with its spaces."""
    prefix = ""
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    line, sep, trailing = line.partition(" :")
    params = line.split()
    if sep:
        params.append(trailing)
    if not params:
        raise ValueError("a line without a command")
    return prefix, params.pop(0).upper(), params


def irc_line(message):
    """The IRC line (bytes, CR LF included) for ``[command, param, ...]``.

    Only the last parameter may contain spaces, be empty or start with a colon: it goes out as
    the trailing parameter. Line breaks and NUL are refused anywhere (they would let a message
    smuggle in a second command)."""
    if not (isinstance(message, list) and message
            and all(isinstance(part, str) for part in message)):
        raise ValueError("a message is a list of strings: [command, param, ...]")
    command, *params = message
    if not _COMMAND.match(command):
        raise ValueError(f"not an IRC command: {command!r}")
    if len(params) > 15:
        raise ValueError("more than 15 parameters")
    for param in params:
        if any(c in param for c in "\r\n\0"):
            raise ValueError("line breaks are not allowed in a message")
    parts = [command.upper()]
    for param in params[:-1]:
        if not param or " " in param or param.startswith(":"):
            raise ValueError(f"only the last parameter may be empty or contain spaces: {param!r}")
        parts.append(param)
    if params:
        last = params[-1]
        parts.append(":" + last if (not last or " " in last or last.startswith(":")) else last)
    line = " ".join(parts).encode("utf-8") + b"\r\n"
    if len(line) > MAX_LINE:
        raise ValueError(f"longer than {MAX_LINE} bytes")
    return line


def parse_server(value):
    """``(host, port)`` from ``host``, ``host:port`` or ``[v6]:port``; port 6667 by default."""
    value = value.strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?|([^\s:\[\]]+)(?::(\d+))?", value)
    if match is None:
        raise ValueError(f"not a host:port: {value!r}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4) or 6667)
    if not 0 < port < 65536:
        raise ValueError(f"not a port: {port}")
    return host, port


class Connection:
    """One IRC server connection: its socket, its coroutine and its events queue."""

    def __init__(self, relay, id, session, host, port):
        self.relay = relay
        self.id = id
        self.session = session
        self.host = host
        self.port = port
        self.events = queue.Queue(EVENTS)
        self.sock = None
        self.connected = False
        self.finished = False  # the coroutine ended; the events left can still be pulled
        self.reason = None
        self.pulls = 0
        self.last_pull = _loop_time()

    def __repr__(self):
        return f"<Connection {self.id} {self.host}:{self.port} finished={self.finished}>"

    @coroutine
    def run(self):
        """Connects, then reads the server's lines and queues them as events until the
        connection ends; the last event says why."""
        yield events.AddCoro(self.monitor)
        target = f"{self.host}:{self.port}"
        yield self.events.put(("", "CONNECTING", [target]))
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.sock = sockets.Socket(family)
        try:
            yield self.sock.connect((self.host, self.port), timeout=CONNECT_TIMEOUT)
        except events.OperationTimeout:
            self.reason = f"no answer from {target} within {CONNECT_TIMEOUT} s"
        except sockets.SocketError as exc:
            self.reason = f"cannot connect to {target}: {exc.strerror or exc}"
        else:
            self.connected = True
            yield self.events.put(("", "CONNECTED", [target]))
            self.reason = yield self.read_lines()
        self.close()
        self.finished = True
        try:
            yield self.events.put(("", "ERROR", [self.reason]), timeout=EVENT_TIMEOUT)
        except events.OperationTimeout:
            pass  # nobody pulls any more

    @coroutine
    def read_lines(self):
        """Queue the server's lines as events; returns why it stopped."""
        reader = self.sock.makefile()
        while True:
            try:
                line = yield reader.readline(MAX_LINE)
            except sockets.ConnectionClosed:
                return self.reason or "the server closed the connection"
            except sockets.SocketError as exc:
                return self.reason or f"connection lost: {exc.strerror or exc}"
            try:
                prefix, command, params = parsemsg(line.decode("utf-8", "replace").rstrip("\r\n"))
            except ValueError:
                continue  # an empty line
            if command == "PING":
                # Answered here, so the connection stays up while the page is in the background.
                try:
                    yield self.sock.sendall(irc_line(["PONG", *params[-1:]]))
                except sockets.SocketError as exc:
                    return self.reason or f"connection lost: {exc.strerror or exc}"
                continue
            try:
                yield self.events.put(
                    (prefix, NUMERICS.get(command, command), params), timeout=EVENT_TIMEOUT
                )
            except events.OperationTimeout:
                return f"{EVENTS} events nobody pulled"

    @coroutine
    def monitor(self):
        """Closes the connection when nobody pulled for ``IDLE`` seconds (the original's
        monitor read a time only its pull set, and died if no pull came in time), then forgets
        it ``LINGER`` seconds after it finished."""
        while not self.finished:
            yield events.Sleep(min(IDLE, 10))
            if not self.finished and self.pulls == 0 and _loop_time() - self.last_pull > IDLE:
                self.close(f"nobody pulled for {IDLE} s")
        yield events.Sleep(LINGER)
        self.relay.connections.pop(self.id, None)

    def close(self, reason=None):
        if reason and not self.reason:
            self.reason = reason
        if self.sock is not None:
            self.sock.close()  # a read waiting on it fails with ConnectionClosed


class Relay:
    """The WSGI application. ``app`` below is the one ``python -m cogen_aio`` serves."""

    def __init__(self, secret=None, allowed=None):
        if secret is None:
            secret = os.environ.get("IRC_SECRET") or secrets.token_hex(32)
        self.cookies = SignedSerializer(secret, "cogen-irc-session", "sha512")
        if allowed is None:
            allowed = os.environ.get("IRC_SERVERS", "127.0.0.1,localhost,::1")
        self.allowed = {host.strip().lower() for host in allowed.split(",") if host.strip()}
        self.connections = {}  # id -> Connection

    def __call__(self, environ, start_response):
        req = Request(environ)
        action, _, conn_id = req.path_info.strip("/").partition("/")
        route = {
            "": ("GET", self.page),
            "connect": ("POST", self.connect),
            "pull": ("GET", self.pull),
            "push": ("POST", self.push),
        }.get(action)
        if route is None or bool(conn_id) != (action in ("pull", "push")):
            resp = _json({"error": "not found"}, status=404)
        elif req.method != route[0] and not (req.method == "HEAD" and route[0] == "GET"):
            resp = _json({"error": f"use {route[0]}"}, status=405)
            resp.allow = route[0]
        else:
            resp = route[1](req, conn_id) if conn_id else route[1](req)
        return resp(environ, start_response)

    def page(self, req):
        return Response(PAGE, content_type="text/html", charset="utf-8",
                        cache_control="no-cache")

    def connect(self, req):
        session, new_session = self._session(req)
        try:
            host, port = parse_server(req.POST.get("server", ""))
        except ValueError as exc:
            return _json({"error": str(exc)}, status=400)
        if "*" not in self.allowed and host.lower() not in self.allowed:
            return _json({"error": f"this relay does not connect to {host} (IRC_SERVERS)"},
                         status=403)
        mine = [c for c in self.connections.values() if c.session == session and not c.finished]
        if len(mine) >= PER_SESSION or len(self.connections) >= MAX_CONNECTIONS:
            return _json({"error": "too many connections"}, status=503)
        conn = Connection(self, secrets.token_urlsafe(9), session, host, port)
        resp = _json_stream(self._connect(req.environ, conn))
        if new_session:
            resp.set_cookie(COOKIE, self.cookies.dumps({"sid": session}).decode("ascii"),
                            path=req.script_name or "/", httponly=True, samesite="Lax")
        return resp

    def pull(self, req, conn_id):
        conn, error = self._connection(req, conn_id)
        if error is not None:
            return error
        if conn.finished and conn.events.empty():
            return _json([["", "ERROR", [conn.reason]]], status=410)
        return _json_stream(self._pull(req.environ, conn))

    def push(self, req, conn_id):
        conn, error = self._connection(req, conn_id)
        if error is not None:
            return error
        if conn.finished:
            return _json([["", "ERROR", [conn.reason]]], status=410)
        if not conn.connected:
            return _json([["", "ERROR", ["not connected yet"]]], status=409)
        try:
            messages = json.loads(req.body)
            if not isinstance(messages, list):
                raise ValueError("send a JSON list of messages")
            payload = b"".join(irc_line(message) for message in messages)
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError included
            return _json([["", "ERROR", [str(exc)]]], status=400)
        return _json_stream(self._push(req.environ, conn, payload, len(messages)))

    # -- the parked parts: generators yielding environ['cogen.*'] calls ----------------------

    def _connect(self, environ, conn):
        self.connections[conn.id] = conn
        yield environ["cogen.core"].events.AddCoro(conn.run)
        yield _dumps({"id": conn.id})

    def _pull(self, environ, conn):
        conn.pulls += 1
        conn.last_pull = _loop_time()
        try:
            batch = []
            while len(batch) < EVENTS:  # whatever is queued already
                yield environ["cogen.call"](conn.events.get_nowait)()
                event = environ["cogen.wsgi"].result
                if isinstance(event, queue.Empty):
                    break
                batch.append(event)
            if not batch:  # nothing yet: wait for the next event
                yield environ["cogen.call"](conn.events.get)(timeout=PULL_TIMEOUT)
                event = environ["cogen.wsgi"].result
                if isinstance(event, events.OperationTimeout):
                    pass
                elif isinstance(event, ShuttingDown):
                    batch.append(("", "ERROR", ["the relay is restarting"]))
                elif isinstance(event, Exception):
                    log.error("pull failed", exc_info=environ["cogen.wsgi"].exception)
                    batch.append(("", "ERROR", [str(event)]))
                else:
                    batch.append(event)
            yield _dumps(batch)
        finally:
            conn.pulls -= 1
            conn.last_pull = _loop_time()

    def _push(self, environ, conn, payload, count):
        yield environ["cogen.call"](conn.sock.sendall)(payload)
        result = environ["cogen.wsgi"].result
        if isinstance(result, Exception):
            yield _dumps([["", "ERROR", [f"not sent: {result}"]]])
        else:
            yield _dumps([["", "PUSH_OK", []]] * count)

    # -- helpers -------------------------------------------------------------------------

    def _connection(self, req, conn_id):
        session, _ = self._session(req)
        conn = self.connections.get(conn_id)
        if conn is None or conn.session != session:
            return None, _json([["", "ERROR", ["no such connection"]]], status=404)
        return conn, None

    def _session(self, req):
        """(session id, whether it is new): a cookie that does not verify starts a new one."""
        value = req.cookies.get(COOKIE)
        if value:
            try:
                sid = self.cookies.loads(value.encode("ascii"))["sid"]
                if isinstance(sid, str):
                    return sid, False
            except (ValueError, KeyError, TypeError, UnicodeEncodeError):
                pass
        return secrets.token_urlsafe(16), True


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def _json(obj, status=200):
    return Response(_dumps(obj), status=status, content_type="application/json",
                    cache_control="no-store")


def _json_stream(app_iter):
    return Response(app_iter=app_iter, content_type="application/json", cache_control="no-store")


app = Relay()
