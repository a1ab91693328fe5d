"""The per-request objects of the parking contract (cogen-api.md §13).

``environ['cogen.wsgi']`` is a :class:`CogenProxy`: the parked ``operation`` and the last outcome
(``result``, ``exception``). ``environ['cogen.core']``, ``['cogen.call']``, ``['cogen.yield']`` and
``['cogen.input']`` are wrappers that park what they build and hand back an empty chunk for the app to
yield. ``environ['cogen']`` is the 0.1.x object with the same fields; it is published only when
:data:`legacy_environ` is on, because a key without a dot must hold a ``str`` (PEP 3333 CGI
variables; ``wsgiref.validate`` rejects the environ otherwise).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Callable

# What ``environ['cogen.core']`` walks: the layout of the original ``cogen.core`` package (events
# with AddCoro/Join, coroutines, schedulers, queue, pubsub, pipe, sockets, util), each module
# imported on first access and an ordinary attribute after that.
from .compat.core import namespace as core_namespace

error_log = logging.getLogger("cogen_aio.error")


class CogenProxy:
    """``environ['cogen.wsgi']``: fixed slots, as in the original (other attributes raise)."""

    __slots__ = ("content_length", "read_count", "_operation", "result", "exception", "overwritten")

    def __init__(self, content_length: int | None = None) -> None:
        self.content_length = content_length
        self.read_count = 0
        self._operation: Any = None
        self.result: Any = None
        self.exception: Any = None
        # Counts operations replaced before the server took them: the mark of middleware that
        # consumes the app's empty chunks instead of passing them on.
        self.overwritten = 0

    @property
    def operation(self) -> Any:
        return self._operation

    @operation.setter
    def operation(self, value: Any) -> None:
        old = self._operation
        if old is not None and value is not None and old is not value:
            self.overwritten += 1
            if inspect.iscoroutine(old):
                old.close()  # it will never run; closing avoids "never awaited" noise
        self._operation = value

    def take(self) -> Any:
        op = self._operation
        self._operation = None
        return op

    def __repr__(self) -> str:
        return (
            f"<cogen.wsgi content_length={self.content_length!r} read_count={self.read_count!r} "
            f"operation={self._operation!r} result={self.result!r} exception={self.exception!r}>"
        )

    __str__ = __repr__


class ParkingCall:
    """A callable that parks what the wrapped callable returns and gives back ``b""``."""

    __slots__ = ("_call", "_proxy")

    def __init__(self, call: Callable[..., Any], proxy: CogenProxy) -> None:
        self._call = call
        self._proxy = proxy

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        self._proxy.operation = self._call(*args, **kwargs)
        return b""

    def __getattr__(self, name: str) -> Any:
        # A class reached through the wrapper (``events.Sleep``) is callable, so it is wrapped;
        # like the original, its attributes are not reachable through the wrapper.
        raise AttributeError(f"{name!r} is not reachable through a cogen operation wrapper")


class OperationWrapper:
    """``environ['cogen.core']`` and ``environ['cogen.input']``: walks the wrapped object; every
    callable found is returned as a :class:`ParkingCall`."""

    __slots__ = ("_target", "_proxy")

    def __init__(self, target: Any, proxy: CogenProxy) -> None:
        self._target = target
        self._proxy = proxy

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if callable(attr):
            return ParkingCall(attr, self._proxy)
        return OperationWrapper(attr, self._proxy)

    def __repr__(self) -> str:
        return f"<cogen operation wrapper over {self._target!r}>"


class CallWrapper:
    """``environ['cogen.call']``: ``cogen.call(fn)(*args)`` parks ``fn(*args)``."""

    __slots__ = ("_proxy",)

    def __init__(self, proxy: CogenProxy) -> None:
        self._proxy = proxy

    def __call__(self, fn: Callable[..., Any]) -> ParkingCall:
        return ParkingCall(fn, self._proxy)


class YieldWrapper:
    """``environ['cogen.yield']``: parks an already built operation and returns None."""

    __slots__ = ("_proxy",)

    def __init__(self, proxy: CogenProxy) -> None:
        self._proxy = proxy

    def __call__(self, operation: Any) -> None:
        self._proxy.operation = operation
        return None


class LegacyCogen:
    """``environ['cogen']`` of cogen 0.1.3–0.1.5: ``core``, ``operation``, ``result`` and
    ``exception`` map onto the request's proxy; apps may hang their own attributes on it."""

    def __init__(self, proxy: CogenProxy, core: OperationWrapper) -> None:
        object.__setattr__(self, "_proxy", proxy)
        object.__setattr__(self, "core", core)

    _shared = frozenset({"operation", "result", "exception"})

    def __getattr__(self, name: str) -> Any:
        if name in LegacyCogen._shared:
            return getattr(object.__getattribute__(self, "_proxy"), name)
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in LegacyCogen._shared:
            setattr(object.__getattribute__(self, "_proxy"), name, value)
        else:
            object.__setattr__(self, name, value)


#: Publish the 0.1.x ``environ['cogen']`` object in every request of every server, whatever their
#: ``legacy_environ`` setting says. ``cogen_aio.compat.install(legacy_environ=True)`` turns it on.
legacy_environ = False


def enable_legacy_environ(enabled: bool = True) -> None:
    """Publish (or stop publishing) ``environ['cogen']`` for cogen 0.1.3–0.1.5 apps."""
    global legacy_environ
    legacy_environ = enabled


def install(
    environ: dict[str, Any], proxy: CogenProxy, cogen_input: Any, legacy: bool = False
) -> None:
    """Put the parking contract's keys into a request's environ (``legacy``: the 0.1.x object)."""
    core = OperationWrapper(core_namespace, proxy)
    environ["cogen.wsgi"] = proxy
    environ["cogen.core"] = core
    environ["cogen.call"] = CallWrapper(proxy)
    environ["cogen.yield"] = YieldWrapper(proxy)
    environ["cogen.input"] = OperationWrapper(cogen_input, proxy)
    if legacy or legacy_environ:
        environ["cogen"] = LegacyCogen(proxy, core)
