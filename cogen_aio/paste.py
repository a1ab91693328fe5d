"""PasteDeploy entry points: serve an app from an ``.ini`` file.

::

    [server:main]
    use = egg:cogen_aio#wsgi        # or #http (the original's names), or #main
    host = 127.0.0.1
    port = 8000
    timeout_keep_alive = 5

Options arrive as strings. Our own settings (``config.SETTINGS``, dashes or underscores) go through
``Config.from_strings``. Options of the original cogen are accepted so old files keep working
(DESIGN.md: "Paste options from old releases are accepted with a warning; unknown options warn,
never vanish"): those with a counterpart are mapped onto it, those that mean nothing on asyncio are
ignored, and each is named in a warning on the ``cogen_aio.error`` logger. An option nobody knows is
named in a warning too, with the closest setting name, and ignored.
"""

from __future__ import annotations

import difflib
import logging
import math
from typing import Any, Callable, Mapping

from .config import SETTINGS_BY_NAME, Config, ConfigError

__all__ = ["server_factory", "server_runner", "config_from_options", "OBSOLETE_OPTIONS"]

error_log = logging.getLogger("cogen_aio.error")

WSGIApp = Callable[..., Any]

#: Options of the original that have no meaning on an asyncio loop (cogen-api.md §14.10), with why.
OBSOLETE_OPTIONS: dict[str, str] = {
    "proactor": "the event loop is asyncio's; the 'loop' setting chooses between asyncio and uvloop",
    "proactor_resolution": "the event loop sleeps until the next timer or socket event",
    "proactor_greedy": "a scheduling knob of the original's proactor",
    "proactor_multiplex_first": "a scheduling knob of the original's proactor",
    "ops_greedy": "a scheduling knob of the original's proactor",
    "sched_default_priority": "priorities are accepted and ignored: ordering is the loop's FIFO",
    "sockaccept_greedy": "connections are accepted by the event loop",
    # Older names, already ignored by cogen 0.2 (they appear in its example configs).
    "reactor": "renamed 'proactor' in cogen 0.2.0, and now has no meaning",
    "reactor_resolution": "renamed 'proactor_resolution' in cogen 0.2.0, and now has no meaning",
    "default_timeout": "already ignored by cogen 0.2; use op_timeout",
    "default_priority": "already ignored by cogen 0.2; priorities are ignored",
    "sockoper_run_first": "already ignored by cogen 0.2",
}
#: Prefixes of cogen 0.1.6 options (``scheduler.poller``, ``wsgi_server.request_queue_size``),
#: ignored since 0.1.7.
OBSOLETE_PREFIXES = ("scheduler.", "wsgi_server.")

#: Where each timeout of the original goes. ``sockoper_timeout`` bounded every socket operation of a
#: connection: waiting for a request line (the idle keep-alive time), reading the head and the body,
#: and each send. Those are four settings here.
SOCKOPER_TARGETS = ("timeout_keep_alive", "timeout_header", "timeout_body", "timeout_write")

_RENAMED = ("sched_default_timeout", "request_queue_size", "sockoper_timeout",
            "sendfile_timeout", "server_name")

_UNSET = object()


def _old_seconds(name: str, value: Any) -> float | None | object:
    """A timeout of the original: seconds; -1 (any negative) is "never"; 0 is "the scheduler's
    default" (returned as ``_UNSET`` for the caller to resolve)."""
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"expected a number of seconds, got {value!r}") from None
    if math.isnan(number):
        raise ConfigError(name, f"expected a number of seconds, got {value!r}")
    if number < 0 or math.isinf(number):
        return None
    if number == 0:
        return _UNSET
    return number


def _longest(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return max(a, b)


def config_from_options(
    options: Mapping[str, Any],
    host: Any = _UNSET,
    port: Any = _UNSET,
    *,
    warn: bool = True,
) -> tuple[Config, str | None]:
    """The :class:`Config` for Paste-style ``options``, and the ``server_name`` to give the app as
    ``SERVER_NAME`` (None to keep the bound address).

    Explicit settings win over what an old option maps to. With ``warn`` (the default) every old
    or unknown option is named in a warning; ``cogen.web.wsgi.WSGIServer`` turns it off for its own
    keyword arguments, which are that API's names rather than leftovers in a file (and so does
    ``cogen.web.wsgi.server_factory`` when it only checks the values before its Runner reads them).
    """
    ours: dict[str, Any] = {}
    old: dict[str, Any] = {}
    for key, value in options.items():
        name = key.strip().replace("-", "_")
        if name in SETTINGS_BY_NAME:
            ours[name] = value
        elif name in _RENAMED:
            old[name] = value
        elif name in OBSOLETE_OPTIONS:
            if warn:
                error_log.warning(
                    "option %r of the original cogen is ignored: %s", key, OBSOLETE_OPTIONS[name]
                )
        elif name.startswith(OBSOLETE_PREFIXES):
            if warn:
                error_log.warning(
                    "option %r of cogen 0.1.6 is ignored (cogen 0.2 already ignored it)", key
                )
        elif warn:
            close = difflib.get_close_matches(name, [*SETTINGS_BY_NAME, *_RENAMED], n=1)
            error_log.warning(
                "unknown option %r ignored%s", key, f" (did you mean {close[0]!r}?)" if close else ""
            )
    if host is not _UNSET:
        ours.setdefault("host", host)
    if port is not _UNSET:
        ours.setdefault("port", port)

    mapped: dict[str, Any] = {}

    def note(old_name: str, text: str) -> None:
        if warn:
            error_log.warning("option %r of the original cogen is deprecated: %s", old_name, text)

    # sched_default_timeout: the scheduler's default timeout for operations given none.
    default_op: float | None = None
    if "sched_default_timeout" in old:
        seconds = _old_seconds("sched_default_timeout", old["sched_default_timeout"])
        default_op = None if seconds is _UNSET else seconds  # type: ignore[assignment]
        mapped["op_timeout"] = default_op
        note("sched_default_timeout", "use op_timeout")
    if "request_queue_size" in old:
        mapped["backlog"] = old["request_queue_size"]
        note("request_queue_size", "use backlog")
    # 0 meant "the scheduler's default timeout" for socket operations too.
    sockoper: Any = _UNSET
    if "sockoper_timeout" in old:
        sockoper = _old_seconds("sockoper_timeout", old["sockoper_timeout"])
        if sockoper is _UNSET:
            sockoper = default_op
        for target in SOCKOPER_TARGETS:
            mapped[target] = sockoper
        note("sockoper_timeout", "mapped to " + ", ".join(SOCKOPER_TARGETS))
    if "sendfile_timeout" in old:
        sendfile = _old_seconds("sendfile_timeout", old["sendfile_timeout"])
        if sendfile is _UNSET:
            sendfile = default_op
        # The write deadline covers file responses and the others alike: take the longer of the
        # two so that neither is cut off sooner than the original server would have.
        mapped["timeout_write"] = (
            sendfile if sockoper is _UNSET else _longest(sendfile, sockoper)  # type: ignore[arg-type]
        )
        note("sendfile_timeout", "mapped to timeout_write (the write deadline of every response)")
    server_name = None
    if "server_name" in old:
        server_name = str(old["server_name"]).strip() or None
        note("server_name", "given to the app as SERVER_NAME")

    for name, value in mapped.items():
        if name in ours:
            continue  # the explicit setting wins
        ours[name] = value
    # from_strings takes typed values as they are (the mapped timeouts, a port given as an int).
    return Config.from_strings(ours), server_name


def with_server_name(app: WSGIApp, server_name: str) -> WSGIApp:
    """``app`` seeing ``SERVER_NAME = server_name`` (the original's ``server_name`` option)."""

    def named(environ: dict[str, Any], start_response: Any) -> Any:
        environ["SERVER_NAME"] = server_name
        return app(environ, start_response)

    named.__wrapped__ = app  # type: ignore[attr-defined]
    return named


def _patch_paste_local() -> None:
    """Give Paste's thread-local class the request-local one, as the original's server_factory
    did: every request runs on the loop's thread, so a thread-local would be shared by all of them
    (Pylons' registry keeps the current request in one)."""
    try:
        import paste.util.threadinglocal as paste_local  # type: ignore[import-not-found]
    except ImportError:
        return
    try:
        from .coroutines import local
    except ImportError:  # pragma: no cover - the module ships with the package
        return
    if paste_local.local is not local:
        paste_local.local = local
        error_log.debug("paste.util.threadinglocal.local now keeps one slot per request")


class PasteServer:
    """What ``server_factory`` returns: ``server(app)`` serves until SIGTERM or SIGINT."""

    def __init__(self, config: Config, server_name: str | None) -> None:
        self.config = config
        self.server_name = server_name

    def __call__(self, app: WSGIApp) -> None:
        from . import server

        if self.server_name is not None:
            app = with_server_name(app, self.server_name)
        _patch_paste_local()
        server.run(app, self.config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.config!r}>"


def server_factory(
    global_conf: Mapping[str, Any], host: str = "127.0.0.1", port: int | str = 8000, **options: Any
) -> PasteServer:
    """``paste.server_factory`` (``egg:cogen_aio#wsgi``, ``#http``): read the options now, so a
    wrong value fails when the file is loaded, and return the callable that serves an app."""
    config, server_name = config_from_options(options, host, port)
    return PasteServer(config, server_name)


def server_runner(app: WSGIApp, global_conf: Mapping[str, Any], **options: Any) -> None:
    """``paste.server_runner`` (``egg:cogen_aio#main``): serve ``app`` with ``options``."""
    server_factory(global_conf, **options)(app)
