"""gevent.pywsgi serving bench/apps/hello.py (run from the repository root:
``python -m bench.peers.gevent_hello --port 8000``)."""

from bench.apps.hello import app
from bench.peers.gevent_server import main

if __name__ == "__main__":
    main(app, __doc__)
