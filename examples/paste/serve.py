"""Serve a PasteDeploy .ini file: ``python examples/paste/serve.py FILE.ini [SERVER_NAME]``.

What ``pserve`` does, in a few lines: configure logging, load the app and the server section, run.
"""

import logging
import os
import sys

from paste.deploy import loadapp, loadserver


def main() -> None:
    path = os.path.abspath(sys.argv[1])
    name = sys.argv[2] if len(sys.argv) > 2 else "main"
    # The app factory (app.py) lives beside the .ini files.
    sys.path.insert(0, os.path.dirname(path))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = loadserver(f"config:{path}", name=name)
    app = loadapp(f"config:{path}")
    server(app)  # until Ctrl-C / SIGTERM


if __name__ == "__main__":
    main()
