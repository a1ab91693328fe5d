from __future__ import annotations

import builtins
import importlib.util
import logging
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cogen_aio
from cogen_aio import __version__, cli
from cogen_aio.cli import configure_logging, main
from cogen_aio.config import SETTINGS, Config

APP_SOURCE = """
def app(environ, start_response):
    start_response("200 OK", [])
    return [b"hello"]

def create_app():
    return app

not_callable = 42
"""

LOGGERS = ("cogen_aio.error", "cogen_aio.access")

# Kept before the autouse fixture below swaps it for a no-op.
INSTALL_COMPAT = cli._install_compat


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run each test from a folder holding ``cli_app.py``, and undo what
    ``main`` changes in the process: sys.path, sys.modules, logging."""
    (tmp_path / "cli_app.py").write_text(APP_SOURCE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    # The legacy-import hook is process-wide; it has a test of its own.
    monkeypatch.setattr(cli, "_install_compat", lambda: None)
    modules_before = set(sys.modules)
    saved = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.level, logger.propagate)
    yield tmp_path
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
    for name in set(sys.modules) - modules_before:
        del sys.modules[name]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Config]]:
    """What ``server.run`` was called with, instead of serving."""
    calls: list[tuple[Any, Config]] = []
    monkeypatch.setattr("cogen_aio.server.run", lambda app, config: calls.append((app, config)))
    return calls


def run_main(args: list[str], served: list[tuple[Any, Config]]) -> Config:
    assert main(["cli_app:app", *args]) == 0
    assert len(served) == 1
    app, config = served[0]
    assert app.__name__ == "app"
    return config


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


# --- every setting reaches Config -------------------------------------------

FLAG_CASES: list[tuple[list[str], str, Any]] = [
    (["--host", "0.0.0.0"], "host", "0.0.0.0"),
    (["--port", "9000"], "port", 9000),
    (["--port", "0"], "port", 0),
    (["--uds", "/tmp/app.sock"], "uds", "/tmp/app.sock"),
    (["--fd", "3"], "fd", 3),
    (["--loop", "asyncio"], "loop", "asyncio"),
    (["--http", "h11"], "http", "h11"),
    (["--http", "httptools"], "http", "httptools"),
    (["--root-path", "/app/"], "root_path", "/app"),
    (["--log-level", "DEBUG"], "log_level", "debug"),
    (["--log-level=trace"], "log_level", "trace"),
    (["--no-access-log"], "access_log", False),
    (["--access-log"], "access_log", True),
    (["--backlog", "128"], "backlog", 128),
    (["--timeout-keep-alive", "2.5"], "timeout_keep_alive", 2.5),
    (["--timeout-keep-alive", "none"], "timeout_keep_alive", None),
    (["--timeout-header", "3"], "timeout_header", 3.0),
    (["--timeout-body", "none"], "timeout_body", None),
    (["--timeout-write", "0.5"], "timeout_write", 0.5),
    (["--timeout-graceful-shutdown", "none"], "timeout_graceful_shutdown", None),
    (["--wake-parked-on-shutdown"], "wake_parked_on_shutdown", True),
    (["--limit-concurrency", "100"], "limit_concurrency", 100),
    (["--limit-request-body", "1024"], "limit_request_body", 1024),
    (["--input-spool-size", "0"], "input_spool_size", 0),
    (["--stream-input"], "stream_input", True),
    (["--h11-max-incomplete-event-size", "8192"], "h11_max_incomplete_event_size", 8192),
    (["--op-timeout", "15"], "op_timeout", 15.0),
    (["--legacy-environ"], "legacy_environ", True),
    (["--debug"], "debug", True),
    (["--no-server-header"], "server_header", False),
    (["--server-header"], "server_header", True),
    (["--no-date-header"], "date_header", False),
    (["--date-header"], "date_header", True),
]


def test_flag_cases_cover_every_setting() -> None:
    covered = {name for _, name, _ in FLAG_CASES} | {"factory"}
    assert covered == {setting.name for setting in SETTINGS}


def case_id(value: Any) -> str | None:
    return " ".join(value) if isinstance(value, list) else None


@pytest.mark.parametrize("args, name, expected", FLAG_CASES, ids=case_id)
def test_flag_sets_setting(
    args: list[str], name: str, expected: Any, served: list[tuple[Any, Config]]
) -> None:
    config = run_main(args, served)
    assert getattr(config, name) == expected
    # Nothing else moved away from its default.
    assert config.replace(**{name: Config().as_dict()[name]}) == Config()


def test_no_options_gives_the_defaults(served: list[tuple[Any, Config]]) -> None:
    assert run_main([], served) == Config()


def test_options_combine_and_the_last_pair_flag_wins(served: list[tuple[Any, Config]]) -> None:
    config = run_main(["--port", "1234", "--no-access-log", "--access-log", "--debug"], served)
    assert (config.port, config.access_log, config.debug) == (1234, True, True)


def test_factory(served: list[tuple[Any, Config]]) -> None:
    assert main(["cli_app:create_app", "--factory"]) == 0
    app, config = served[0]
    assert app.__name__ == "app"
    assert config.factory is True


def test_app_is_imported_from_the_current_directory(isolated: Path, served: list[tuple[Any, Config]]) -> None:
    assert str(isolated) not in sys.path
    run_main([], served)
    assert sys.path[0] == os.getcwd()


# --- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, line",
    [
        (["--port", "abc"], "--port: expected an integer between 0 and 65535, got 'abc'"),
        (["--port=70000"], "--port: expected an integer between 0 and 65535, got '70000'"),
        (["--timeout-keep-alive", "soon"],
         "--timeout-keep-alive: expected a number of seconds >= 0 or 'none', got 'soon'"),
        (["--loop", "trio"], "--loop: expected one of auto, asyncio, uvloop, got 'trio'"),
        (["--log-level", "loud"],
         "--log-level: expected one of critical, error, warning, info, debug, trace, got 'loud'"),
        (["--limit-concurrency", "0"], "--limit-concurrency: expected an integer >= 1 or 'none', got '0'"),
        (["--root-path", "app"],
         "--root-path: expected an empty string or a path starting with '/', got 'app'"),
        (["--uds", "/tmp/s", "--fd", "3"], "--fd: cannot be combined with uds; give one or the other"),
        (["--workers", "4"], "unrecognized arguments: --workers 4"),
        (["--port"], "argument --port: expected one argument"),
    ],
)
def test_bad_values_exit_2_with_one_line(
    args: list[str], line: str, served: list[tuple[Any, Config]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cli_app:app", *args]) == 2
    assert one_error_line(capsys) == f"cogen_aio: error: {line}"
    assert served == []


def test_missing_import_string(served: list[tuple[Any, Config]], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "9000"]) == 2
    assert one_error_line(capsys) == (
        "cogen_aio: error: the following arguments are required: MODULE:ATTR"
    )


def test_uvloop_missing_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, served: list[tuple[Any, Config]], capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = builtins.__import__

    def no_uvloop(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop":
            raise ImportError("No module named 'uvloop'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "uvloop", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_uvloop)
    assert main(["cli_app:app", "--loop", "uvloop"]) == 2
    assert one_error_line(capsys) == (
        "cogen_aio: error: --loop: uvloop is not installed (pip install cogen_aio[uvloop])"
    )
    assert served == []


@pytest.mark.parametrize(
    "spec, line",
    [
        ("nosuch_cli_module:app", 'could not import module "nosuch_cli_module"'),
        ("cli_app:application", 'attribute "application" not found in module "cli_app"'),
        ("cli_app:not_callable", '"cli_app:not_callable" is not callable'),
        ("cli_app", 'import string "cli_app" must be in format "<module>:<attribute>"'),
    ],
)
def test_import_errors_exit_1_with_one_line(
    spec: str, line: str, served: list[tuple[Any, Config]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([spec]) == 1
    assert one_error_line(capsys) == f"cogen_aio: error: {line}"
    assert served == []


# --- help and version -----------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"cogen_aio {__version__}\n"


def test_help_lists_every_flag_with_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m cogen_aio MODULE:ATTR [options]")
    for setting in SETTINGS:
        assert setting.flag in out
    assert "--no-access-log" in out
    assert "(default: 5.0)" in out
    assert "(default: none)" in out


def test_python_m_cogen_aio_version() -> None:
    project = Path(cogen_aio.__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "cogen_aio", "--version"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"cogen_aio {__version__}\n"


# --- logging and the legacy import hook ---------------------------------------------


def test_configure_logging(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", access_log=True)
    configure_logging("info", access_log=True)  # idempotent: still one line each
    logging.getLogger("cogen_aio.error").info("listening")
    logging.getLogger("cogen_aio.error").debug("hidden")
    logging.getLogger("cogen_aio.access").info('127.0.0.1 - "GET / HTTP/1.1" 200')
    captured = capsys.readouterr()
    assert captured.out == '127.0.0.1 - "GET / HTTP/1.1" 200\n'
    error_lines = captured.err.splitlines()
    assert len(error_lines) == 1
    assert error_lines[0].endswith(" INFO cogen_aio.error: listening")


def test_configure_logging_trace_and_no_access_log(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("trace", access_log=False)
    logging.getLogger("cogen_aio.error").log(5, "bytes in")
    access = logging.getLogger("cogen_aio.access")
    assert not access.isEnabledFor(logging.INFO)
    access.info("not written")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.rstrip().endswith("TRACE cogen_aio.error: bytes in")


def test_main_configures_logging(served: list[tuple[Any, Config]]) -> None:
    run_main(["--log-level", "warning", "--no-access-log"], served)
    assert logging.getLogger("cogen_aio.error").level == logging.WARNING
    assert not logging.getLogger("cogen_aio.access").isEnabledFor(logging.CRITICAL)


def test_legacy_imports_are_mapped_unless_cogen_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[bool] = []
    fake_compat = types.ModuleType("cogen_aio.compat")
    fake_compat.install = lambda: installed.append(True)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cogen_aio.compat", fake_compat)
    monkeypatch.setattr(cogen_aio, "compat", fake_compat, raising=False)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    INSTALL_COMPAT()
    assert installed == [True]

    # A real ``cogen`` distribution is importable: leave its imports alone.
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: object())
    INSTALL_COMPAT()
    assert installed == [True]


def test_no_cogen_alias_skips_the_legacy_import_hook(
    monkeypatch: pytest.MonkeyPatch, served: list[tuple[Any, Config]]
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(cli, "_install_compat", lambda: calls.append(True))
    run_main([], served)
    assert calls == [True]
    served.clear()
    config = run_main(["--no-cogen-alias"], served)
    assert calls == [True]
    assert config == Config()  # not a server setting
