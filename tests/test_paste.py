"""PasteDeploy entry points, loaded by the real PasteDeploy from .ini files (cogen-api.md §13, §14.10).

Option handling is checked in process (``loadserver`` reads the options when the file is loaded);
serving is checked in a subprocess, as ``pserve`` would run it, over a real socket, and stopped
with SIGTERM.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from paste.deploy import loadapp, loadserver

from cogen_aio.config import Config, ConfigError
from cogen_aio.middleware import LazyStartResponseMiddleware, SynchronousInputMiddleware
from cogen_aio.paste import PasteServer, config_from_options, server_factory

HANG = 10.0
DEFAULTS = Config()

APP_MODULE = '''
def make_app(global_conf, **local):
    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield environ["cogen.core"].events.Sleep(0.01)
        session = environ.get("beaker.session")
        if session is not None:
            session["seen"] = True
            session.save()
        yield " ".join(
            [environ["SERVER_NAME"], environ["CONTENT_LENGTH"], body.decode(), local.get("tag", "")]
        ).encode()
    return app
'''


@pytest.fixture
def ini(tmp_path: Path) -> Any:
    """``ini(text)`` writes an .ini file (and the app module beside it); returns its config URI."""
    (tmp_path / "pasteapp.py").write_text(APP_MODULE)
    sys.path.insert(0, str(tmp_path))

    def write(text: str, name: str = "test.ini") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return f"config:{path}"

    yield write
    sys.path.remove(str(tmp_path))
    sys.modules.pop("pasteapp", None)


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "cogen_aio.error" and r.levelno == logging.WARNING
    ]


# -- options, in process -------------------------------------------------------------------------


def test_our_settings_from_an_ini_file(ini: Any, caplog: pytest.LogCaptureFixture) -> None:
    uri = ini(
        """
        [DEFAULT]
        debug = true

        [server:main]
        use = egg:cogen_aio#wsgi
        host = 127.0.0.2
        port = 9123
        timeout-keep-alive = 2.5
        access_log = off
        server_header = n
        date_header = Yes
        backlog = 17
        op_timeout = none
        legacy_environ = yes
        """
    )
    with caplog.at_level(logging.WARNING, logger="cogen_aio.error"):
        server = loadserver(uri)
    assert isinstance(server, PasteServer)
    config = server.config
    assert (config.host, config.port) == ("127.0.0.2", 9123)
    assert config.timeout_keep_alive == 2.5
    assert config.access_log is False and config.server_header is False
    assert config.date_header is True
    assert config.backlog == 17 and config.op_timeout is None
    assert config.legacy_environ is True  # environ['cogen'] for 0.1.3-0.1.5 apps
    # [DEFAULT] values reach global_conf, not the server options: nothing to warn about.
    assert config.debug is False
    assert warnings_in(caplog) == []


@pytest.mark.parametrize("entry", ["wsgi", "http"])
def test_the_originals_entry_point_names(ini: Any, entry: str) -> None:
    server = loadserver(ini(f"[server:main]\nuse = egg:cogen_aio#{entry}\n"))
    assert server.config == Config(host="127.0.0.1", port=8000)


@pytest.mark.parametrize(
    "word, value",
    [(w, True) for w in ("true", "yes", "on", "y", "t", "1", "TRUE")]
    + [(w, False) for w in ("false", "no", "off", "n", "f", "0", "Off")],
)
def test_booleans(word: str, value: bool) -> None:
    assert server_factory({}, access_log=word).config.access_log is value


def test_old_options_are_mapped_with_a_warning_naming_each(
    ini: Any, caplog: pytest.LogCaptureFixture
) -> None:
    uri = ini(
        """
        [server:main]
        use = egg:cogen_aio#wsgi
        host = 127.0.0.1
        port = 8080
        request_queue_size = 128
        sched_default_timeout = 30
        sockoper_timeout = 20
        sendfile_timeout = 300
        server_name = www.example.com
        """
    )
    with caplog.at_level(logging.WARNING, logger="cogen_aio.error"):
        server = loadserver(uri)
    config = server.config
    assert config.backlog == 128
    assert config.op_timeout == 30.0
    assert config.timeout_keep_alive == config.timeout_header == config.timeout_body == 20.0
    assert config.timeout_write == 300.0  # the longer of sockoper and sendfile
    assert server.server_name == "www.example.com"
    found = warnings_in(caplog)
    for name in ("request_queue_size", "sched_default_timeout", "sockoper_timeout",
                 "sendfile_timeout", "server_name"):
        assert len([m for m in found if m.startswith(f"option {name!r}")]) == 1, (name, found)
    assert any("backlog" in m for m in found) and any("op_timeout" in m for m in found)


def test_old_timeout_values(caplog: pytest.LogCaptureFixture) -> None:
    # -1: never; 0: "the scheduler's default" (sched_default_timeout), which is none by default.
    config, _ = config_from_options({"sockoper_timeout": "-1", "sched_default_timeout": "0"})
    assert config.timeout_header is None and config.timeout_keep_alive is None
    assert config.op_timeout is None
    config, _ = config_from_options({"sockoper_timeout": "0", "sched_default_timeout": "7"})
    assert config.timeout_body == 7.0 and config.op_timeout == 7.0
    config, _ = config_from_options({"sendfile_timeout": "-1", "sockoper_timeout": "15"})
    assert config.timeout_write is None and config.timeout_header == 15.0
    with pytest.raises(ConfigError, match="sockoper_timeout"):
        config_from_options({"sockoper_timeout": "soon"})


def test_explicit_settings_win_over_mapped_old_ones(caplog: pytest.LogCaptureFixture) -> None:
    config, _ = config_from_options(
        {"sockoper_timeout": "20", "timeout_keep_alive": "3", "backlog": "5",
         "request_queue_size": "64"}
    )
    assert config.timeout_keep_alive == 3.0 and config.timeout_header == 20.0
    assert config.backlog == 5


OBSOLETE = {
    "proactor": "epoll",
    "proactor_resolution": "0.5",
    "proactor_greedy": "yes",
    "proactor_multiplex_first": "false",
    "ops_greedy": "no",
    "sched_default_priority": "3",
    "sockaccept_greedy": "true",
    "reactor": "select",
    "reactor_resolution": "0.01",
    "default_timeout": "300",
    "default_priority": "3",
    "sockoper_run_first": "true",
    "scheduler.default_timeout": "15",
    "scheduler.poller": "epoll",
    "wsgi_server.request_queue_size": "64",
}


def test_obsolete_options_are_named_and_ignored(ini: Any, caplog: pytest.LogCaptureFixture) -> None:
    lines = "\n".join(f"{k} = {v}" for k, v in OBSOLETE.items())
    uri = ini(f"[server:main]\nuse = egg:cogen_aio#http\n{lines}\n")
    with caplog.at_level(logging.WARNING, logger="cogen_aio.error"):
        server = loadserver(uri)
    assert server.config == Config()
    found = warnings_in(caplog)
    assert len(found) == len(OBSOLETE)
    for name in OBSOLETE:
        assert len([m for m in found if m.startswith(f"option {name!r}") and "ignored" in m]) == 1


def test_unknown_options_warn_by_name(ini: Any, caplog: pytest.LogCaptureFixture) -> None:
    uri = ini("[server:main]\nuse = egg:cogen_aio#wsgi\ntimeout_keepalive = 9\nflavour = mint\n")
    with caplog.at_level(logging.WARNING, logger="cogen_aio.error"):
        server = loadserver(uri)
    assert server.config.timeout_keep_alive == DEFAULTS.timeout_keep_alive
    found = warnings_in(caplog)
    assert found == [
        "unknown option 'timeout_keepalive' ignored (did you mean 'timeout_keep_alive'?)",
        "unknown option 'flavour' ignored",
    ]


def test_a_bad_value_fails_when_the_file_is_loaded(ini: Any) -> None:
    with pytest.raises(ConfigError, match="port"):
        loadserver(ini("[server:main]\nuse = egg:cogen_aio#wsgi\nport = eighty\n"))


# -- filters -------------------------------------------------------------------------------------


def test_filters_from_egg_names(ini: Any) -> None:
    uri = ini(
        """
        [app:main]
        use = call:pasteapp:make_app
        filter-with = sync

        [filter:sync]
        use = egg:cogen_aio#syncinput
        buffer_length = 4

        [pipeline:lazy]
        pipeline = lazysr echo

        [filter:lazysr]
        use = egg:cogen_aio#lazysr

        [app:echo]
        use = call:pasteapp:make_app
        """
    )
    app = loadapp(uri)
    assert isinstance(app, SynchronousInputMiddleware) and app.buffer_length == 4
    lazy = loadapp(uri, name="lazy")
    assert isinstance(lazy, LazyStartResponseMiddleware)


# -- serving, in a subprocess --------------------------------------------------------------------

RUNNER = """
import logging, sys
from paste.deploy import loadapp, loadserver
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
uri, server_name = sys.argv[1], sys.argv[2]
server = loadserver(uri, name=server_name)
server(loadapp(uri))
"""


class Served:
    def __init__(self, uri: str, server_name: str, cwd: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(cwd))
        self.process = subprocess.Popen(
            [sys.executable, "-c", RUNNER, uri, server_name],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.port = self._wait_for_port()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put("")

    def _wait_for_port(self) -> int:
        while True:
            line = self.lines.get(timeout=HANG)
            self.stderr.append(line)
            match = re.search(r"Serving on http://127\.0\.0\.1:(\d+)", line)
            if match:
                return int(match.group(1))
            if not line:
                raise AssertionError("server exited:\n" + "".join(self.stderr))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(HANG)
        while True:
            line = self.lines.get(timeout=HANG)
            if not line:
                break
            self.stderr.append(line)
        return code

    @property
    def log(self) -> str:
        return "".join(self.stderr)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Any]:
    running: list[Served] = []

    def start(uri: str, server_name: str = "main") -> Served:
        running.append(Served(uri, server_name, tmp_path))
        return running[-1]

    yield start
    for item in running:
        if item.process.poll() is None:
            item.process.kill()
            item.process.wait(HANG)


SERVED_INI = """
    [server:main]
    use = egg:cogen_aio#wsgi
    host = 127.0.0.1
    port = 0
    server_name = legacy.example
    sockoper_timeout = 20
    proactor = epoll

    [server:runner]
    use = egg:cogen_aio#main
    port = 0
    sched_default_priority = 3

    [pipeline:main]
    pipeline = session lazysr sync echo

    [filter:session]
    use = egg:Beaker#beaker_session
    session.type = memory
    session.key = sid

    [filter:lazysr]
    use = egg:cogen_aio#lazysr

    [filter:sync]
    use = egg:cogen_aio#syncinput
    buffer_length = 3

    [app:echo]
    use = call:pasteapp:make_app
    tag = via-paste
    """


def test_serving_a_pipeline_from_an_ini_file(ini: Any, served: Any) -> None:
    uri = ini(SERVED_INI)
    server = served(uri)
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=HANG) as client:
        reply = client.post("/", content=b"hello paste")
        second = client.get("/")
    assert reply.status_code == 200
    # server_name reached the app; syncinput read the body 3 bytes at a time; lazysr let Beaker
    # add its cookie after the app touched the session while parked.
    assert reply.text == "legacy.example 11 hello paste via-paste"
    assert "sid" in reply.cookies
    assert second.text == "legacy.example 0  via-paste"
    assert server.stop() == 0
    log = server.log
    assert "option 'sockoper_timeout' of the original cogen is deprecated" in log
    assert "option 'server_name' of the original cogen is deprecated" in log
    assert "option 'proactor' of the original cogen is ignored" in log
    assert "SIGTERM received: shutting down" in log


def test_serving_through_the_server_runner(ini: Any, served: Any) -> None:
    server = served(ini(SERVED_INI), "runner")
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=HANG) as client:
        reply = client.post("/", content=b"abc")
    assert reply.text == "127.0.0.1 3 abc via-paste"
    assert server.stop() == 0
    assert "option 'sched_default_priority' of the original cogen is ignored" in server.log


EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "paste"


@pytest.mark.parametrize("name", ["development.ini", "legacy.ini"])
def test_the_example_files_load(name: str, caplog: pytest.LogCaptureFixture) -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        with caplog.at_level(logging.WARNING, logger="cogen_aio.error"):
            server = loadserver(f"config:{EXAMPLES / name}")
            app = loadapp(f"config:{EXAMPLES / name}")
    finally:
        sys.path.remove(str(EXAMPLES))
        sys.modules.pop("app", None)
    assert isinstance(server, PasteServer) and callable(app)
    found = warnings_in(caplog)
    if name == "development.ini":
        assert found == [] and server.config.op_timeout == 60.0
    else:
        # Every old option of the file is named once.
        old = ["sockoper_timeout", "sendfile_timeout", "sched_default_timeout",
               "request_queue_size", "server_name", "proactor", "proactor_resolution",
               "sched_default_priority", "sockaccept_greedy"]
        assert sorted(m.split("'")[1] for m in found) == sorted(old)
        assert server.config.timeout_write == 300.0 and server.config.backlog == 64


def test_pastes_thread_local_becomes_request_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """Like the original's server_factory: every request runs on the loop's thread, so Paste's
    thread-local (Pylons' registry) must keep one slot per request."""
    import types

    from cogen_aio.coroutines import local
    from cogen_aio.paste import _patch_paste_local

    util = types.ModuleType("paste.util")
    threadinglocal = types.ModuleType("paste.util.threadinglocal")
    threadinglocal.local = object  # type: ignore[attr-defined]
    util.threadinglocal = threadinglocal  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "paste.util", util)
    monkeypatch.setitem(sys.modules, "paste.util.threadinglocal", threadinglocal)
    _patch_paste_local()
    assert threadinglocal.local is local  # type: ignore[attr-defined]
