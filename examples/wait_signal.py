"""The wait/signal example of the original cogen documentation, ported to Python 3 by syntax only.

Run ``python -m cogen_aio examples.wait_signal:app``, open http://127.0.0.1:8000/wait in one
browser tab, then http://127.0.0.1:8000/send/hello in another within 5 seconds.

The original used a backtick repr and ``cgi.escape``; their Python 3 spellings are ``repr()`` and
``html.escape`` (which also escapes quotes). The app yields ``str`` chunks, as Python 2 apps did:
the server encodes them as UTF-8.
"""

import html


def wait_app(environ, start_response):
    start_response("200 OK", [("Content-type", "text/html")])
    yield "I'm waiting for some signal<br>"
    yield environ["cogen.core"].events.WaitForSignal("abc", timeout=5)
    if isinstance(environ["cogen.wsgi"].result, Exception):
        yield "Your time is up !"
    else:
        yield "Someone signaled me with this message: %s" % html.escape(
            repr(environ["cogen.wsgi"].result)
        )


def send_app(environ, start_response):
    start_response("200 OK", [("Content-type", "text/html")])
    yield environ["cogen.core"].events.Signal("abc", environ["PATH_INFO"])
    yield "Woke %s waiter(s) with %s" % (
        environ["cogen.wsgi"].result,
        html.escape(repr(environ["PATH_INFO"])),
    )


def app(environ, start_response):
    """Dispatch like the original's WSGIPathInfoDispatcher: /send/... signals, anything else waits."""
    path = environ["PATH_INFO"]
    if path.startswith("/send"):
        environ = dict(environ, SCRIPT_NAME="/send", PATH_INFO=path[len("/send") :])
        return send_app(environ, start_response)
    return wait_app(environ, start_response)
