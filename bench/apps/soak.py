"""The soak's app: hello world on every path but the long-poll's ``/poll`` and ``/publish``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bench.apps import hello, longpoll


def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
    if environ["PATH_INFO"] in ("/poll", "/publish"):
        return longpoll.app(environ, start_response)
    return hello.app(environ, start_response)
