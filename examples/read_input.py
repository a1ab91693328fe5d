"""Reading the input asynchronously: the original documentation's example, ported to Python 3 by
syntax only (``StringIO`` becomes ``BytesIO``: request bodies are bytes).

Run with ``python -m cogen_aio examples.read_input:app --stream-input`` so the app is called as
soon as the request head arrives and reads the body through ``environ['cogen.input']`` as it
comes in; without ``--stream-input`` the same code reads a body the server already received.

    curl --data-binary @some-file http://127.0.0.1:8000/
"""

import traceback
from io import BytesIO


def app(environ, start_response):
    buff = BytesIO()
    reads = 0
    while 1:
        reads += 1
        yield environ["cogen.input"].read(8192)
        result = environ["cogen.wsgi"].result
        if isinstance(result, Exception):
            traceback.print_exception(*environ["cogen.wsgi"].exception)
            break
        else:
            if not result:
                break
            buff.write(result)
    buff.seek(0)
    body = buff.read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"read %d bytes in %d parked reads" % (len(body), reads)
