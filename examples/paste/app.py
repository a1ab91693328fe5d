"""A small long-poll app for the .ini files beside it (``use = call:app:make_app``).

``GET /wait`` parks until someone calls ``POST /send`` (the body is the message) or 30 s pass; the
session middleware in ``development.ini`` counts the visits of each browser, and sets its cookie
after the app was parked, which ``lazysr`` makes possible.
"""

import html


def make_app(global_conf, **settings):
    timeout = float(settings.get("wait_timeout", 30))

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/send" and environ["REQUEST_METHOD"] == "POST":
            message = environ["wsgi.input"].read()  # filled by syncinput
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield environ["cogen.core"].events.Signal("news", message)
            yield b"woke %d waiter(s)\n" % environ["cogen.wsgi"].result
            return
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        yield environ["cogen.core"].events.WaitForSignal("news", timeout=timeout)
        result = environ["cogen.wsgi"].result
        session = environ.get("beaker.session")
        visits = ""
        if session is not None:
            session["visits"] = session.get("visits", 0) + 1
            session.save()
            visits = " (visit %d)" % session["visits"]
        if isinstance(result, Exception):
            yield ("nothing new%s\n" % visits).encode()
        else:
            text = result.decode("utf-8", "replace")
            yield ("news: %s%s\n" % (html.escape(text), visits)).encode()

    return app
