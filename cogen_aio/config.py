"""Every server setting, once.

One table, ``SETTINGS``, holds each setting's name, caster, default and help
paragraph. The same table drives keyword arguments (``Config(port=9000)``),
the command line (``cli.py`` builds its argparse parser from it) and string
values from PasteDeploy ``.ini`` files (``Config.from_strings``), so the three
can never disagree about a name, a type or a default. This is waitress'
``Adjustments`` idea, with uvicorn's setting names.

Building a ``Config`` has no side effects: it does not configure logging, read
the environment, import the event loop or exit. It only validates and stores.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .parsers import missing_requirement

__all__ = [
    "LOG_LEVELS",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "TRACE_LOG_LEVEL",
    "Config",
    "ConfigError",
    "Setting",
    "find_setting",
]

# Below DEBUG, for per-connection chatter (the name uvicorn uses too).
TRACE_LOG_LEVEL = 5

LOG_LEVELS: dict[str, int] = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE_LOG_LEVEL,
}


class ConfigError(ValueError):
    """A setting got a value it cannot use.

    ``str()`` is one line, ``"<setting>: <message>"``. The two parts stay
    available separately so the command line can name the flag instead
    (``--port: ...``) and PasteDeploy the option.
    """

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(setting, message)
        self.setting = setting
        self.message = message

    def __str__(self) -> str:
        return f"{self.setting}: {self.message}"


# --- Casters ---------------------------------------------------------------
#
# A caster turns a string (command line, .ini file) or an already typed value
# (keyword argument) into the setting's value, or raises ValueError with a
# message that reads well after "<setting>: ". They never see the setting's
# name, so one caster serves many settings.

Caster = Callable[[Any], Any]

# "none" is how a string says "no value"; the empty string too, because an
# .ini line such as "uds =" means "not set".
_NONE_WORDS = frozenset({"none", ""})

_TRUE_WORDS = frozenset({"true", "yes", "on", "y", "t", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "n", "f", "0"})


def _is_none(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS)


def _range_text(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer between {minimum} and {maximum}"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def _parse_int(value: Any) -> int | None:
    # bool is an int subclass, but port=True is a mistake, not port 1.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def integer(minimum: int | None = None, maximum: int | None = None) -> Caster:
    """An integer within ``[minimum, maximum]`` (either bound may be open)."""
    expected = _range_text(minimum, maximum)

    def cast(value: Any) -> int:
        number = _parse_int(value)
        if (
            number is None
            or (minimum is not None and number < minimum)
            or (maximum is not None and number > maximum)
        ):
            raise ValueError(f"expected {expected}, got {value!r}")
        return number

    return cast


def optional_integer(minimum: int | None = None, maximum: int | None = None) -> Caster:
    """Like ``integer``, but ``None`` / ``"none"`` / ``""`` mean "not set"."""
    expected = _range_text(minimum, maximum)

    def cast(value: Any) -> int | None:
        if _is_none(value):
            return None
        number = _parse_int(value)
        if (
            number is None
            or (minimum is not None and number < minimum)
            or (maximum is not None and number > maximum)
        ):
            raise ValueError(f"expected {expected} or 'none', got {value!r}")
        return number

    return cast


def seconds(value: Any) -> float | None:
    """A non-negative number of seconds, or ``None`` for "no timeout".

    ``"none"``, ``""`` and infinity all mean no timeout and come back as
    ``None``, so the server has a single thing to test for.
    """
    if _is_none(value):
        return None
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or math.isnan(number) or number < 0:
        raise ValueError(f"expected a number of seconds >= 0 or 'none', got {value!r}")
    if math.isinf(number):
        return None
    return number


def boolean(value: Any) -> bool:
    """``True``/``False``, or the words .ini files and shells use for them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise ValueError(f"expected a boolean (true/false, yes/no, on/off, 1/0), got {value!r}")


def one_of(*choices: str) -> Caster:
    """One of ``choices``, compared case-insensitively, returned as spelled there."""
    by_folded = {choice.lower(): choice for choice in choices}
    expected = ", ".join(choices)

    def cast(value: Any) -> str:
        if isinstance(value, str):
            choice = by_folded.get(value.strip().lower())
            if choice is not None:
                return choice
        raise ValueError(f"expected one of {expected}, got {value!r}")

    return cast


def string(value: Any) -> str:
    """Any string, unchanged."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def optional_string(value: Any) -> str | None:
    """A string, or ``None``. Only ``""`` reads as "not set" here: "none" could
    be a file name."""
    if value is None or value == "":
        return None
    return string(value)


def log_level(value: Any) -> str:
    """A level name from ``LOG_LEVELS`` (or its number), returned as the name."""
    if isinstance(value, int) and not isinstance(value, bool):
        for name, number in LOG_LEVELS.items():
            if number == value:
                return name
    elif isinstance(value, str):
        name = value.strip().lower()
        if name in LOG_LEVELS:
            return name
    raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {value!r}")


def script_name(value: Any) -> str:
    """A path prefix usable as SCRIPT_NAME.

    PEP 3333 takes SCRIPT_NAME from CGI (RFC 3875 §4.1.13): empty for the
    site root, otherwise starting with "/" and without a trailing "/", so
    that SCRIPT_NAME + PATH_INFO rebuilds the path. A trailing slash is
    dropped rather than refused, "/app/" is what people type.
    """
    text = string(value).strip()
    if text and not text.startswith("/"):
        raise ValueError(f"expected an empty string or a path starting with '/', got {value!r}")
    return text.rstrip("/")


# --- The table -------------------------------------------------------------

CliKind = Literal["value", "flag", "pair"]


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: what it is called, how values are read, and its default.

    ``kind`` says how it looks on the command line: ``"value"`` takes an
    argument (``--port 9000``), ``"flag"`` is a switch that turns it on
    (``--debug``), ``"pair"`` is an on/off pair (``--access-log`` /
    ``--no-access-log``) for settings that are on by default.
    """

    name: str
    caster: Caster
    default: Any
    help: str
    group: str
    flag: str = ""
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    kind: CliKind = "value"

    def __post_init__(self) -> None:
        if not self.flag:
            # uvicorn's convention: the flag is the name with dashes.
            object.__setattr__(self, "flag", "--" + self.name.replace("_", "-"))

    def cast(self, value: Any) -> Any:
        """Run ``value`` through the caster; failures name this setting."""
        try:
            return self.caster(value)
        except ValueError as exc:
            raise ConfigError(self.name, str(exc)) from None


LOOPS = ("auto", "asyncio", "uvloop")
HTTP_IMPLEMENTATIONS = ("h11", "httptools")
_http_name = one_of(*HTTP_IMPLEMENTATIONS)


def http_implementation(value: Any) -> str:
    """One of ``HTTP_IMPLEMENTATIONS`` that can be imported here."""
    name = _http_name(value)
    problem = missing_requirement(name)
    if problem is not None:
        raise ValueError(problem)
    return name


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "host", string, "127.0.0.1",
        "Interface to bind. 127.0.0.1 keeps a development server off the network; "
        "use 0.0.0.0 to accept connections on every IPv4 interface, normally behind a proxy.",
        group="socket", metavar="HOST",
    ),
    Setting(
        "port", integer(0, 65535), 8000,
        "TCP port to bind. 0 asks the operating system for a free port (the server logs the "
        "one it got), which is what tests want.",
        group="socket", metavar="PORT",
    ),
    Setting(
        "uds", optional_string, None,
        "Path of a UNIX domain socket to bind instead of host and port, for a reverse proxy on "
        "the same machine: no TCP overhead, and file permissions decide who may connect.",
        group="socket", metavar="PATH",
    ),
    Setting(
        "fd", optional_integer(0), None,
        "Serve on an already bound, listening socket inherited as this file descriptor "
        "(systemd socket activation, a supervisor, a parent process) instead of binding one. "
        "Its real family, TCP or UNIX, is kept.",
        group="socket", metavar="FD",
    ),
    Setting(
        "loop", one_of(*LOOPS), "auto",
        "Event loop implementation. auto uses uvloop when it is importable, since it moves "
        "bytes and accepts connections faster, and the standard asyncio loop otherwise.",
        group="server", choices=LOOPS,
    ),
    Setting(
        "http", http_implementation, "h11",
        "HTTP/1.1 request parser. h11 is pure Python and strict about RFC 9112 message "
        "framing, which matters most for a server facing untrusted clients. httptools "
        "(pip install cogen_aio[fast]) parses the header fields with llhttp, in C, and the "
        "rest as h11 does: it accepts and refuses the same requests, for a fraction of the "
        "CPU time.",
        group="server", choices=HTTP_IMPLEMENTATIONS,
    ),
    Setting(
        "factory", boolean, False,
        "Treat the import string as a callable taking no arguments that returns the WSGI "
        "application, for apps built by an application factory.",
        group="application", kind="flag",
    ),
    Setting(
        "root_path", script_name, "",
        "Path prefix the application is mounted below, given to it as SCRIPT_NAME (PEP 3333) "
        "so it builds correct URLs when a proxy serves it under, say, /app. "
        "Empty means the site root.",
        group="application", metavar="PATH",
    ),
    Setting(
        "log_level", log_level, "info",
        "Lowest level logged by cogen_aio.error and cogen_aio.access "
        f"({', '.join(LOG_LEVELS)}). Access lines are logged at info, so warning and above "
        f"also silence them; trace (level {TRACE_LOG_LEVEL}) adds per-connection detail.",
        group="logging", metavar="LEVEL",
    ),
    Setting(
        "access_log", boolean, True,
        "Log one line per response to cogen_aio.access. Turn it off when a proxy in front "
        "already logs requests: it is a cost paid on every response.",
        group="logging", kind="pair",
    ),
    Setting(
        "backlog", integer(1), 2048,
        "Length of the queue of connections the kernel has completed but the server has not "
        "accepted yet (listen(2)). 2048, as in uvicorn and gunicorn, absorbs bursts; the kernel "
        "may cap it (net.core.somaxconn on Linux).",
        group="socket", metavar="N",
    ),
    Setting(
        "timeout_keep_alive", seconds, 5.0,
        "Seconds an idle keep-alive connection is kept open waiting for its next request. "
        "Short, because an idle connection holds a socket and buffers while reconnecting is "
        "cheap for the client; RFC 9112 §9.5 lets a server close idle connections.",
        group="timeouts", metavar="SECONDS",
    ),
    Setting(
        "timeout_header", seconds, 10.0,
        "The whole request head, request line and headers, must arrive within this many "
        "seconds of its first byte, or the connection is closed. This is the defence against "
        "slowloris clients that trickle a header byte at a time to hold connections.",
        group="timeouts", metavar="SECONDS",
    ),
    Setting(
        "timeout_body", seconds, 60.0,
        "Longest gap, in seconds, between two pieces of a request body the server is waiting "
        "for. A gap rather than a total, so a large upload over a slow link is fine as long as "
        "it keeps moving.",
        group="timeouts", metavar="SECONDS",
    ),
    Setting(
        "timeout_write", seconds, 60.0,
        "How long, in seconds, the send buffer may stay above its high-water mark before the "
        "connection is aborted. Without it a client that stops reading would pin its response "
        "and buffers for ever.",
        group="timeouts", metavar="SECONDS",
    ),
    Setting(
        "timeout_graceful_shutdown", seconds, 30.0,
        "On SIGTERM or SIGINT, how long in-flight requests get to finish before what is left "
        "is cancelled; none waits for ever. 30 s is gunicorn's graceful timeout; keep it below "
        "the time your supervisor waits before it sends SIGKILL.",
        group="timeouts", metavar="SECONDS",
    ),
    Setting(
        "wake_parked_on_shutdown", boolean, False,
        "On shutdown, resolve parked operations at once with a ShuttingDown outcome, so "
        "long-polls answer normally inside the grace period instead of being cut off at its "
        "end. Off by default because the app has to recognise that outcome.",
        group="application", kind="flag",
    ),
    Setting(
        "limit_concurrency", optional_integer(1), None,
        "Maximum number of simultaneous connections; requests beyond it are answered "
        "503 Service Unavailable at once, so an overloaded server sheds load instead of "
        "slowing every client down. none means no limit.",
        group="limits", metavar="N",
    ),
    Setting(
        "limit_request_body", integer(0), 1024 * 1024 * 1024,
        "Largest request body accepted, in bytes; larger ones get 413 Content Too Large "
        "(RFC 9110 §15.5.14). 1 GiB, as in waitress, only stops runaway uploads; lower it for "
        "APIs that never take large bodies.",
        group="limits", metavar="BYTES",
    ),
    Setting(
        "input_spool_size", integer(0), 512 * 1024,
        "Request bodies up to this many bytes are kept in memory; larger ones are spooled to "
        "a temporary file, so many concurrent uploads cannot exhaust memory. 512 KiB keeps "
        "ordinary forms and JSON off the disk.",
        group="limits", metavar="BYTES",
    ),
    Setting(
        "stream_input", boolean, False,
        "Call the application as soon as the request head arrives; it reads the body "
        "asynchronously through environ['cogen.input'] instead of the server receiving the "
        "whole body first. Only for apps written to read their input that way.",
        group="application", kind="flag",
    ),
    Setting(
        "h11_max_incomplete_event_size", integer(1), 16 * 1024,
        "Bytes the request line and headers must fit in. Beyond it the request is refused "
        "with 414 URI Too Long when the request line alone is too long (RFC 9110 §15.5.15), "
        "431 Request Header Fields Too Large otherwise (RFC 6585 §5). 16 KiB is h11's own "
        "default and well above what browsers send.",
        group="limits", metavar="BYTES",
    ),
    Setting(
        "op_timeout", seconds, None,
        "Default timeout, in seconds, of parked operations that were given none; such an "
        "operation still pending then resolves with OperationTimeout. none: no default, they "
        "wait until they complete, the client goes away or the server shuts down.",
        group="timeouts", metavar="SECONDS",
    ),
    Setting(
        "legacy_environ", boolean, False,
        "Also publish environ['cogen'], the per-request object of cogen 0.1.3-0.1.5 apps "
        "(core, operation, result, exception). Off by default because PEP 3333 wants every "
        "environ key without a dot to hold a str, and wsgiref.validate rejects it.",
        group="application", kind="flag",
    ),
    Setting(
        "debug", boolean, False,
        "Put the traceback in the body of 500 responses. Never on by default: a traceback "
        "shows source, paths and sometimes secrets to whoever triggered the error.",
        group="server", kind="flag",
    ),
    Setting(
        "server_header", boolean, True,
        "Add a Server header to responses that have none. Some prefer not to advertise the "
        "software they run (RFC 9110 §10.2.4).",
        group="server", kind="pair",
    ),
    Setting(
        "date_header", boolean, True,
        "Add a Date header to responses that have none, as RFC 9110 §6.6.1 asks of an origin "
        "server with a clock. Turn it off only when a proxy in front adds it.",
        group="server", kind="pair",
    ),
)

SETTINGS_BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}


def find_setting(name: str) -> Setting:
    """The setting called ``name``; an unknown name raises ``ConfigError``
    with the closest known name as a suggestion."""
    try:
        return SETTINGS_BY_NAME[name]
    except KeyError:
        pass
    message = "unknown setting"
    close = difflib.get_close_matches(name, SETTINGS_BY_NAME, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    raise ConfigError(name, message)


# --- Config ----------------------------------------------------------------

_NAMES = tuple(setting.name for setting in SETTINGS)


class Config:
    """The validated value of every setting, as plain attributes.

    ``Config(port=9000, debug="yes")`` runs each value through its caster and
    fills in the defaults; an unknown name or a bad value raises
    ``ConfigError``. Instances are immutable (use ``replace``) and use
    ``__slots__``: the server reads these attributes on hot paths.
    """

    __slots__ = _NAMES

    host: str
    port: int
    uds: str | None
    fd: int | None
    loop: str
    http: str
    factory: bool
    root_path: str
    log_level: str
    access_log: bool
    backlog: int
    timeout_keep_alive: float | None
    timeout_header: float | None
    timeout_body: float | None
    timeout_write: float | None
    timeout_graceful_shutdown: float | None
    wake_parked_on_shutdown: bool
    limit_concurrency: int | None
    limit_request_body: int
    input_spool_size: int
    stream_input: bool
    h11_max_incomplete_event_size: int
    op_timeout: float | None
    legacy_environ: bool
    debug: bool
    server_header: bool
    date_header: bool

    def __init__(self, **kwargs: Any) -> None:
        # Unknown names first, so a typo is reported as a typo and not as
        # whatever its value would have failed on.
        for name in kwargs:
            find_setting(name)
        for setting in SETTINGS:
            if setting.name in kwargs:
                value = setting.cast(kwargs[setting.name])
            else:
                value = setting.default
            object.__setattr__(self, setting.name, value)
        if self.uds is not None and self.fd is not None:
            raise ConfigError("fd", "cannot be combined with uds; give one or the other")

    @classmethod
    def from_strings(cls, mapping: Mapping[str, str]) -> Config:
        """A Config from string values, as PasteDeploy passes them.

        Keys may use dashes (``timeout-keep-alive``) as well as underscores,
        and values are stripped of surrounding whitespace, as .ini files are
        written by hand.
        """
        kwargs: dict[str, Any] = {}
        for key, value in mapping.items():
            name = key.strip().replace("-", "_")
            kwargs[name] = value.strip() if isinstance(value, str) else value
        return cls(**kwargs)

    def replace(self, **changes: Any) -> Config:
        """A new Config with ``changes`` applied (validated like ``__init__``)."""
        return type(self)(**{**self.as_dict(), **changes})

    def as_dict(self) -> dict[str, Any]:
        """Every setting's value, in table order."""
        return {name: getattr(self, name) for name in _NAMES}

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Config is immutable; use config.replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Config is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Config):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in _NAMES)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in _NAMES))

    def __repr__(self) -> str:
        # Only what differs from the defaults: the rest is in SETTINGS.
        changed = ", ".join(
            f"{setting.name}={getattr(self, setting.name)!r}"
            for setting in SETTINGS
            if getattr(self, setting.name) != setting.default
        )
        return f"{type(self).__name__}({changed})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The frozen __setattr__ would break pickle's default slot restore.
        return (_config_from_dict, (type(self), self.as_dict()))


def _config_from_dict(cls: type[Config], values: dict[str, Any]) -> Config:
    return cls(**values)
