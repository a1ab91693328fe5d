"""Building the PEP 3333 environ from a parsed request."""

from __future__ import annotations

import re
from typing import Any, NamedTuple
from urllib.parse import unquote_to_bytes

from .. import __version__
from .errors import ErrorStream
from .filewrapper import FileWrapper

SERVER_SOFTWARE = f"cogen_aio/{__version__}"

# RFC 9110 §7.2 and RFC 3986 §3.2.2: Host = uri-host [ ":" port ]; uri-host is an IP-literal in
# brackets or a reg-name (which also covers IPv4). An empty value is allowed (RFC 9112 §3.2).
_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?\Z")
_ABSOLUTE = re.compile(rb"([A-Za-z][A-Za-z0-9+\-.]*)://([^/?#]*)([^#]*)\Z")


class BadRequest(Exception):
    """A request h11 accepted but that RFC 9110/9112 or PEP 3333 rules out (answered with
    ``status``, 400 unless said otherwise)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def base_environ(root_path: str) -> dict[str, Any]:
    """What every request of a server shares."""
    return {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
        "wsgi.input_terminated": True,
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        "SCRIPT_NAME": root_path,
    }


class ConnectionInfo(NamedTuple):
    """What every request on one connection shares: the addresses of both ends, as the environ
    has them, and the error stream. Kept as a tuple rather than a per-connection environ: ten
    thousand parked connections are ten thousand of these."""

    remote_addr: str
    remote_port: str
    server_name: str
    server_port: str
    # One error stream per connection: its requests never overlap, so a line an app writes in
    # pieces is not interleaved with another request's.
    errors: ErrorStream


# The address strings of the listening side are the same for every connection of a listener,
# and clients' addresses repeat: one string each instead of one per connection (bounded).
_hosts: dict[Any, str] = {}


def _host_text(host: Any) -> str:
    text = _hosts.get(host)
    if text is None:
        text = str(host)
        if len(_hosts) >= 1024:
            _hosts.clear()
        _hosts[host] = text
    return text


def connection_info(peer: Any, sock: Any) -> ConnectionInfo:
    """``peer`` and ``sock`` are the transport's ``peername`` and ``sockname``."""
    if isinstance(peer, tuple):
        remote_addr, remote_port = _host_text(peer[0]), str(peer[1])
    else:  # UNIX socket: no address to report; waitress uses "localhost" too
        remote_addr, remote_port = "localhost", "0"
    if isinstance(sock, tuple):
        server_name, server_port = _host_text(sock[0]), _host_text(sock[1])
    else:
        server_name, server_port = "localhost", "80"
    return ConnectionInfo(remote_addr, remote_port, server_name, server_port, ErrorStream())


# Header name -> environ key, computed once per distinct name.
_keys: dict[bytes, str | None] = {}


def _environ_key(name: bytes) -> str | None:
    key = _keys.get(name)
    if key is None and name not in _keys:
        if b"_" in name:
            # A header spelled with underscores would land on the same key as its hyphenated
            # twin (X_Forwarded_For vs X-Forwarded-For): drop it, as waitress and gunicorn do.
            key = None
        elif name == b"content-type":
            key = "CONTENT_TYPE"
        elif name == b"content-length":
            key = "CONTENT_LENGTH"
        else:
            key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        if len(_keys) < 1024:
            _keys[name] = key
    return key


def build_environ(
    base: dict[str, Any],
    connection: ConnectionInfo,
    method: bytes,
    target: bytes,
    http_version: bytes,
    headers: list[tuple[bytes, bytes]],
) -> dict[str, Any]:
    environ = base.copy()
    environ["REMOTE_ADDR"] = connection.remote_addr
    environ["REMOTE_PORT"] = connection.remote_port
    environ["SERVER_NAME"] = connection.server_name
    environ["SERVER_PORT"] = connection.server_port
    environ["wsgi.errors"] = connection.errors
    environ["REQUEST_METHOD"] = method.decode("ascii")
    environ["SERVER_PROTOCOL"] = "HTTP/" + http_version.decode("ascii")
    raw_target = target.decode("latin-1")
    environ["RAW_URI"] = environ["REQUEST_URI"] = raw_target

    hosts = 0
    for name, value in headers:
        if name == b"host":
            hosts += 1
            if not _HOST.match(value):
                raise BadRequest("invalid Host header")
        key = _environ_key(name)
        if key is None:
            continue
        text = value.decode("latin-1")
        if key in environ and key.startswith("HTTP_"):
            # RFC 9110 §5.3: repeated list fields combine with commas; Cookie with "; "
            # (RFC 6265 §5.4).
            separator = "; " if key == "HTTP_COOKIE" else ", "
            environ[key] = environ[key] + separator + text
        elif key == "CONTENT_TYPE" and key in environ:
            # RFC 9110 §8.3: a singleton field; two of them leave the app and anything in front
            # of it free to pick different ones.
            raise BadRequest("more than one Content-Type header")
        else:
            environ[key] = text
    if hosts > 1:
        raise BadRequest("more than one Host header")
    if hosts == 0 and http_version != b"1.0":
        # h11 checks this too; kept so the rule holds whatever parses the head.
        raise BadRequest("missing Host header")

    if target[:1] == b"/":
        path, _, query = target.partition(b"?")
    elif target == b"*" and method == b"OPTIONS":
        path, query = b"*", b""
    elif method == b"CONNECT":
        # RFC 9110 §9.3.6: CONNECT asks for a tunnel, which a WSGI app cannot provide.
        raise BadRequest("CONNECT is not supported", 501)
    else:
        match = _ABSOLUTE.match(target)
        if match is None:
            raise BadRequest("invalid request target")
        _, authority, rest = match.groups()
        # RFC 9112 §3.2.2: with an absolute-form target the Host header is ignored. RFC 9110
        # §4.2.4: userinfo in an http(s) URI is to be treated as an error, and _HOST refuses it.
        if not _HOST.match(authority):
            raise BadRequest("invalid authority in request target")
        # The scheme stays the connection's: a client saying "https://" over plain HTTP does
        # not make the request secure, and wsgi.url_scheme must not claim it is.
        environ["HTTP_HOST"] = authority.decode("latin-1")
        path, _, query = (rest or b"/").partition(b"?")
    if b"#" in target:
        raise BadRequest("fragment in request target")

    # PEP 3333: PATH_INFO is percent-decoded and carried as latin-1 "bytes in a str". An encoded
    # slash becomes "/" here; RAW_URI and REQUEST_URI keep it distinguishable.
    path_info = unquote_to_bytes(path).decode("latin-1") if b"%" in path else path.decode("latin-1")
    script_name = environ["SCRIPT_NAME"]
    if script_name and (path_info == script_name or path_info.startswith(script_name + "/")):
        path_info = path_info[len(script_name) :]
    environ["PATH_INFO"] = path_info
    environ["QUERY_STRING"] = query.decode("latin-1")
    return environ


def request_keep_alive(http_version: bytes, connection: str | None) -> bool:
    """RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive" (tokens are
    case-insensitive). ``connection`` is the request's Connection value as the environ has it."""
    if connection is None:
        return http_version != b"1.0"
    tokens = {token.strip() for token in connection.lower().split(",")}
    if "close" in tokens:
        return False
    return http_version != b"1.0" or "keep-alive" in tokens
