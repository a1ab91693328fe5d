"""``python -m cogen_aio MODULE:ATTR [options]``.

The parser is built from ``config.SETTINGS``: each setting's flag, help and
default come from the table, and every value goes through the same casters
as keyword arguments do, so the command line cannot drift from ``Config``.

Exit status:
    0  the server ran and shut down normally (also ``--help``, ``--version``);
    1  the application could not be loaded (module or attribute not found,
       not callable);
    2  the command line is wrong (unknown option, missing import string, a
       value a setting cannot take), as for argparse's own errors.

Errors are one line on stderr, ``cogen_aio: error: ...``, never a traceback.
An exception raised by the application's module while it is imported is the
exception: its traceback is shown, since it is a bug in that code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from cogen_aio import __version__
from cogen_aio.config import (
    LOG_LEVELS,
    SETTINGS,
    SETTINGS_BY_NAME,
    TRACE_LOG_LEVEL,
    Config,
    ConfigError,
    Setting,
)
from cogen_aio.importer import ImportFromStringError, load_app
from cogen_aio.loops import get_loop_factory

__all__ = ["build_parser", "configure_logging", "main"]

PROG = "cogen_aio"

EXIT_OK = 0
EXIT_APP_NOT_LOADED = 1
EXIT_USAGE = 2

_GROUP_TITLES = {
    "socket": "where to listen",
    "server": "server",
    "application": "application",
    "logging": "logging",
    "timeouts": "timeouts (seconds, or 'none')",
    "limits": "limits",
}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block before its error; one line that
    # says what is wrong reads better in a terminal and in a service log.
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _help_text(setting: Setting) -> str:
    text = setting.help
    if setting.kind == "pair":
        text += f" (default: {'on' if setting.default else 'off'})"
    elif setting.kind == "value":
        default = "none" if setting.default is None else setting.default
        text += f" (default: {default!s})" if default != "" else " (default: empty)"
    # argparse expands %-formats in help strings.
    return text.replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one option per entry of ``SETTINGS``.

    Options left out of the command line are absent from the parsed
    namespace (``argparse.SUPPRESS``), so ``Config`` applies its own
    defaults and there is a single place where they live.
    """
    parser = _Parser(
        prog=PROG,
        usage="python -m cogen_aio MODULE:ATTR [options]",
        description="Serve a WSGI application, cogen-style generator apps included, "
        "from an asyncio event loop.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument(
        "app",
        metavar="MODULE:ATTR",
        help="the WSGI application as an import string, e.g. myproject.wsgi:application "
        "(with --factory, a callable returning it)",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--no-cogen-alias",
        dest="no_cogen_alias",
        action="store_true",
        help="do not make 'import cogen...' load cogen_aio.compat, the legacy cogen API that "
        "old apps import (it is never done when a real cogen package is installed)",
    )

    groups: dict[str, argparse._ArgumentGroup] = {}
    for setting in SETTINGS:
        group = groups.get(setting.group)
        if group is None:
            title = _GROUP_TITLES.get(setting.group, setting.group)
            group = groups[setting.group] = parser.add_argument_group(title)
        kwargs: dict[str, Any] = {"dest": setting.name, "help": _help_text(setting)}
        if setting.kind == "flag":
            group.add_argument(setting.flag, action="store_true", **kwargs)
        elif setting.kind == "pair":
            group.add_argument(setting.flag, action=argparse.BooleanOptionalAction, **kwargs)
        else:
            # No argparse ``type``/``choices``: the value is checked by the
            # setting's caster, so messages are the same as for keyword
            # arguments and Paste options.
            metavar = setting.metavar
            if metavar is None and setting.choices:
                metavar = "{" + ",".join(setting.choices) + "}"
            group.add_argument(setting.flag, metavar=metavar, **kwargs)
    return parser


def configure_logging(level: str | int, access_log: bool) -> None:
    """Send ``cogen_aio.error`` to stderr and ``cogen_aio.access`` to stdout.

    Diagnostics go to stderr and access lines, the server's record of its
    work, to stdout, as uvicorn and gunicorn do. Access lines are already
    formatted by the server, so they are written as they are. Calling this
    again replaces the handlers it installed instead of adding more.
    """
    logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")
    number = LOG_LEVELS[level] if isinstance(level, str) else level

    error_handler = logging.StreamHandler(sys.stderr)
    error_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    _install_handler(logging.getLogger("cogen_aio.error"), error_handler, number)

    access_handler = logging.StreamHandler(sys.stdout)
    access_handler.setFormatter(logging.Formatter("%(message)s"))
    access_logger = logging.getLogger("cogen_aio.access")
    _install_handler(access_logger, access_handler, number)
    if not access_log:
        # Above every level, so the server's isEnabledFor() check skips
        # building the line at all.
        access_logger.setLevel(logging.CRITICAL + 1)


def _install_handler(logger: logging.Logger, handler: logging.Handler, level: int) -> None:
    for old in [h for h in logger.handlers if getattr(h, "_cogen_aio_cli", False)]:
        logger.removeHandler(old)
    handler._cogen_aio_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    # The root logger may have handlers of its own (basicConfig); without
    # this every line would be printed twice.
    logger.propagate = False


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _make_importable(directory: str) -> None:
    # ``python -m`` puts the current directory on sys.path, a console script
    # does not; either way ``cogen_aio app:app`` should work from the app's
    # folder, as it does with uvicorn.
    if directory not in sys.path:
        sys.path.insert(0, directory)


def _install_compat() -> None:
    # Legacy apps import ``cogen``. Map it onto cogen_aio.compat unless a
    # real cogen package is installed, which then wins.
    if importlib.util.find_spec("cogen") is not None:
        return
    try:
        compat = importlib.import_module("cogen_aio.compat")
    except ModuleNotFoundError as exc:
        if exc.name != "cogen_aio.compat":
            raise
        return
    compat.install()


def _flag_for(setting_name: str) -> str:
    setting = SETTINGS_BY_NAME.get(setting_name)
    return setting.flag if setting is not None else setting_name


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), load the app and serve it."""
    parser = build_parser()
    try:
        options = vars(parser.parse_args(argv))
    except _UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK

    spec = options.pop("app")
    cogen_alias = not options.pop("no_cogen_alias", False)
    try:
        config = Config(**options)
        # Resolved now so "--loop uvloop" without uvloop fails before the
        # app is imported; the server resolves it again, which is cheap.
        get_loop_factory(config.loop)
    except ConfigError as exc:
        _error(f"{_flag_for(exc.setting)}: {exc.message}")
        return EXIT_USAGE

    _make_importable(os.getcwd())
    if cogen_alias:
        _install_compat()
    try:
        app = load_app(spec, factory=config.factory)
    except ImportFromStringError as exc:
        _error(str(exc))
        return EXIT_APP_NOT_LOADED

    configure_logging(config.log_level, config.access_log)

    # Looked up only now: the server and everything under it is not needed
    # for --help or for a command line that is wrong.
    from cogen_aio import server

    try:
        server.run(app, config)
    except OSError as exc:
        # Binding failed (address in use, permission denied, bad --fd): say so in one line.
        _error(f"could not listen: {exc.strerror or exc}")
        return EXIT_APP_NOT_LOADED
    return EXIT_OK
