"""A comet chat: long-poll pull, push, who is here. Run it with

    python -m cogen_aio examples.chat.app:app

and open the URL it prints (http://127.0.0.1:8000/) in two browser windows.

This is the chat that shipped with the original cogen, re-hosted from Pylons on plain WSGI and
WebOb, in the same style: the request handlers are generators that park operations through
``environ['cogen.*']`` and yield an empty chunk; the server awaits the operation on its event loop
and resumes the handler with the outcome in ``environ['cogen.wsgi'].result``.

How it works (the original's workflow):

* A participant is identified by a signed session cookie (plus a per-tab id the page sends, so
  two tabs of one browser are two participants; without it, one participant per cookie).
* Its first ``GET /pull`` creates it and starts a *watcher* coroutine with ``AddCoro``. The
  watcher subscribes to the chat's ``PublishSubscribeQueue`` and moves every batch of new
  messages into the participant's own bounded ``Queue(10)``.
* Later pulls wait on that queue for up to 10 seconds and return what arrived, or an empty list.
* A participant whose queue is full (ten batches nobody pulled: the page is gone or stuck) is
  dead: its watcher stops and the next pull from its page creates a new participant.
* A participant with no pull parked for ``GRACE`` seconds left: closing the page closes its
  long-poll connection, the server closes the parked handler (its ``finally`` runs) and the
  watcher notices on its next wake-up. ``GET /who`` says who is here.
* Everything is bounded: the history (``PublishSubscribeQueue(max_history=...)`` and the
  ``recent`` list a newcomer receives), each participant's queue, message and name lengths, the
  number of participants.
* Text is HTML-escaped when it goes out: the ``*_html`` fields of the pull's JSON are safe to
  insert as HTML, which is what the page does.

The cookie is signed with HMAC-SHA512 (WebOb's ``SignedSerializer``) using the secret in the
``CHAT_SECRET`` environment variable, or a random secret made when the process starts; with the
random one, cookies from before a restart no longer verify and the page simply joins again.
"""

from __future__ import annotations

import asyncio
import collections
import html
import json
import logging
import os
import re
import secrets
import time
from pathlib import Path

from webob import Request, Response
from webob.cookies import SignedSerializer

import cogen_aio.compat

# ``python -m cogen_aio`` maps the legacy ``cogen`` package onto cogen_aio.compat already; doing it
# here too lets tests and other servers import this module.
cogen_aio.compat.install()

from cogen.core import events, queue  # noqa: E402
from cogen.core.coroutines import coroutine  # noqa: E402
from cogen.core.pubsub import MessagesDropped, PublishSubscribeQueue  # noqa: E402

from cogen_aio import ShuttingDown  # noqa: E402

log = logging.getLogger("cogen_aio.error.chat")

PAGE = (Path(__file__).parent / "index.html").read_bytes()

PULL_TIMEOUT = 10  # seconds a pull waits for messages (the original's value)
GRACE = 3  # seconds without a pull parked before a participant counts as gone
QUEUE_SIZE = 10  # unpulled batches before a participant is dead (the original's value)
MAX_HISTORY = 200  # messages the publish/subscribe queue retains
RECENT = 50  # messages a newcomer receives
MAX_TEXT = 500  # characters in a message
MAX_NAME = 24  # characters in a name
MAX_PARTICIPANTS = 500
COOKIE = "chat_session"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TAB = re.compile(r"[A-Za-z0-9_-]{0,32}\Z")


def _loop_time():
    # The event loop's clock, so the testing kit's virtual clock moves it too.
    return asyncio.get_running_loop().time()


class Message:
    """One line of the chat, kept as the raw text; escaped in :meth:`render`."""

    __slots__ = ("seq", "ts", "kind", "name", "text", "sender")

    def __init__(self, seq, kind, name, text="", sender=None):
        self.seq = seq
        self.ts = int(time.time() * 1000)
        self.kind = kind  # "say", "join" or "leave"
        self.name = name
        self.text = text
        self.sender = sender  # the participant's key, never sent out

    def render(self, reader_key):
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "name_html": html.escape(self.name),
            "text_html": html.escape(self.text),
            "mine": self.sender is not None and self.sender == reader_key,
        }


class Participant:
    def __init__(self, chat, key, name, since):
        self.chat = chat
        self.key = key
        self.name = name
        self.since = since  # the first message this participant gets through its watcher
        self.messages = queue.Queue(QUEUE_SIZE)
        self.dead = False
        self.gone = False
        self.pulls = 0  # pulls parked right now
        self.last_seen = _loop_time()
        self.watcher = None

    def __repr__(self):
        return f"<Participant {self.name!r} pulls={self.pulls} queued={self.messages.qsize()}>"

    def away(self):
        return self.pulls == 0 and _loop_time() - self.last_seen > self.chat.grace

    @coroutine
    def watch(self):
        """Runs for as long as the participant is here: moves each batch of new messages from
        the chat's publish/subscribe queue to this participant's queue, where its pulls take
        them. Leaves when the queue is full (nobody pulls) or when no pull came for a while."""
        pubsub = self.chat.pubsub
        yield pubsub.subscribe(self.key)
        yield self.chat.post("join", self.name)
        reason = "left"
        while True:
            try:
                batch = yield pubsub.fetch(self.key, timeout=self.chat.grace)
            except events.OperationTimeout:
                batch = []
            except MessagesDropped:
                # Fell behind the bounded history: as stuck as a full queue.
                self.dead, reason = True, "stopped reading"
                break
            if self.away():
                break
            batch = [m for m in batch if m.seq >= self.since]
            if not batch:
                continue
            try:
                yield self.messages.put_nowait(batch)
            except queue.Full:
                log.info("%s is dead: %d batches nobody pulled", self.name, QUEUE_SIZE)
                self.dead, reason = True, "stopped reading"
                break
        self.gone = True
        if self.chat.participants.get(self.key) is self:
            del self.chat.participants[self.key]
        yield pubsub.unsubscribe(self.key)
        yield self.chat.post("leave", self.name, reason)


class Chat:
    """The WSGI application. ``app`` below is the one ``python -m cogen_aio`` serves; tests make
    their own (each holds its queues, which belong to the event loop they were used on)."""

    def __init__(self, secret=None, grace=GRACE, pull_timeout=PULL_TIMEOUT,
                 max_history=MAX_HISTORY):
        if secret is None:
            secret = os.environ.get("CHAT_SECRET") or secrets.token_hex(32)
        self.cookies = SignedSerializer(secret, "cogen-chat-session", "sha512")
        self.grace = grace
        self.pull_timeout = pull_timeout
        self.pubsub = PublishSubscribeQueue(max_history=max_history)
        self.recent = collections.deque(maxlen=RECENT)
        self.participants = {}  # key -> Participant, in the order they joined
        self.boot = secrets.token_hex(4)  # tells the page when the server was restarted
        self.last_seq = 0  # the number of the last message posted

    # -- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        req = Request(environ)
        route = {
            "/": ("GET", self.page),
            "/pull": ("GET", self.pull),
            "/push": ("POST", self.push),
            "/who": ("GET", self.who),
        }.get(req.path_info)
        if route is None:
            resp = _json({"error": "not found"}, status=404)
        elif req.method != route[0] and not (req.method == "HEAD" and route[0] == "GET"):
            resp = _json({"error": f"use {route[0]}"}, status=405)
            resp.allow = route[0]
        else:
            resp = route[1](req)
        return resp(environ, start_response)

    def post(self, kind, name, text="", sender=None):
        """Publish a message: returns the operation, for a request or a coroutine to yield."""
        self.last_seq += 1
        message = Message(self.last_seq, kind, name, text, sender)
        self.recent.append(message)
        return self.pubsub.publish(message)

    def present(self):
        return [p.name for p in self.participants.values()]

    # -- pages ---------------------------------------------------------------------------

    def page(self, req):
        return Response(PAGE, content_type="text/html", charset="utf-8",
                        cache_control="no-cache")

    def who(self, req):
        return _json({"count": len(self.participants), "present": self.present()})

    def pull(self, req):
        session, new_session = self._session(req)
        key = f"{session}:{_tab(req)}"
        participant = self.participants.get(key)
        if participant is not None:
            resp = _json_stream(self._wait(req.environ, participant))
        elif len(self.participants) >= MAX_PARTICIPANTS:
            return _json({"error": "the chat is full"}, status=503)
        else:
            name = _clean_name(req.GET.get("name", "")) or f"guest-{secrets.randbelow(10000)}"
            resp = _json_stream(self._join(req.environ, key, name))
        if new_session:
            resp.set_cookie(COOKIE, self.cookies.dumps({"sid": session}).decode("ascii"),
                            path=req.script_name or "/", httponly=True, samesite="Lax")
        return resp

    def push(self, req):
        session, _ = self._session(req)
        participant = self.participants.get(f"{session}:{_tab(req)}")
        if participant is None:
            return _json({"error": "not in the chat: pull first"}, status=409)
        try:
            text = _CONTROL.sub(" ", req.body.decode("utf-8")).strip()
        except UnicodeDecodeError:
            return _json({"error": "the message is not UTF-8"}, status=400)
        if not text:
            return _json({"error": "empty message"}, status=400)
        if len(text) > MAX_TEXT:
            return _json({"error": f"longer than {MAX_TEXT} characters"}, status=413)
        return _json_stream(self._say(req.environ, participant, text))

    # -- the parked parts: generators yielding environ['cogen.*'] calls ----------------------

    def _join(self, environ, key, name):
        # What was said before comes with this answer; everything from the "joined" line on
        # comes through the watcher, which announces the newcomer.
        recent = list(self.recent)
        participant = Participant(self, key, name, since=self.last_seq + 1)
        self.participants[key] = participant
        yield environ["cogen.core"].events.AddCoro(participant.watch)
        participant.watcher = environ["cogen.wsgi"].result
        yield _dumps({
            "joined": name,
            "server": self.boot,
            "messages": [m.render(key) for m in recent],
            "present": self.present(),
        })

    def _wait(self, environ, participant):
        participant.pulls += 1
        participant.last_seen = _loop_time()
        try:
            yield environ["cogen.call"](participant.messages.get)(timeout=self.pull_timeout)
            result = environ["cogen.wsgi"].result
            reply = {"messages": [], "present": self.present()}
            if isinstance(result, events.OperationTimeout):
                pass  # nothing new within 10 s: an empty answer, and the page pulls again
            elif isinstance(result, ShuttingDown):
                reply["restarting"] = True
            elif isinstance(result, Exception):
                log.error("pull failed", exc_info=environ["cogen.wsgi"].exception)
            else:
                reply["messages"] = [m.render(participant.key) for m in result]
            yield _dumps(reply)
        finally:
            # Runs when the answer is sent, and also when the page went away while parked:
            # the server closes this generator as soon as the connection drops.
            participant.pulls -= 1
            participant.last_seen = _loop_time()

    def _say(self, environ, participant, text):
        yield environ["cogen.call"](self.post)("say", participant.name, text, participant.key)
        # The outcome of a publish is the publish operation; it carries the message.
        yield _dumps({"seq": environ["cogen.wsgi"].result.message.seq})

    # -- helpers -------------------------------------------------------------------------

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


def _tab(req):
    tab = req.GET.get("tab", "")
    return tab if _TAB.match(tab) else ""


def _clean_name(name):
    return " ".join(_CONTROL.sub(" ", name).split())[:MAX_NAME].strip()


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def _json(obj, status=200):
    return Response(_dumps(obj), status=status, content_type="application/json",
                    cache_control="no-store")


def _json_stream(app_iter):
    # The handler generator is the response body: its empty chunks park operations, the last
    # chunk is the JSON answer. No Content-Length, since it is not known before the wait.
    return Response(app_iter=app_iter, content_type="application/json", cache_control="no-store")


app = Chat()
