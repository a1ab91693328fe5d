"""``cogen.web.async`` under a name Python 3 can import (``async`` is a keyword since 3.7).

The middlewares are ``cogen_aio.middleware``'s (state per request, iterables closed exactly once).
The proxy and wrapper classes are those of ``cogen_aio.parking``, with the original's constructor
arguments (cogen-api.md §13).
"""

from __future__ import annotations

from typing import Any, Callable

from cogen_aio.middleware import (
    LazyStartResponseMiddleware,
    SynchronousInputMiddleware,
    lazy_sr,
    sync_input,
)
from cogen_aio.parking import CallWrapper, CogenProxy, OperationWrapper, ParkingCall, YieldWrapper

__all__ = [
    "LazyStartResponseMiddleware",
    "SynchronousInputMiddleware",
    "lazy_sr",
    "sync_input",
    "COGENProxy",
    "COGENOperationWrapper",
    "COGENCallWrapper",
    "COGENSimpleWrapper",
    "COGENOperationCall",
]


class COGENProxy(CogenProxy):
    """``environ['cogen.wsgi']``, built with the original's keyword arguments."""

    __slots__ = ()

    def __init__(
        self,
        content_length: int | None = None,
        read_count: int | None = None,
        operation: Any = None,
        result: Any = None,
        exception: Any = None,
    ) -> None:
        super().__init__(content_length)
        self.read_count = read_count  # type: ignore[assignment]
        self.operation = operation
        self.result = result
        self.exception = exception


class COGENOperationWrapper(OperationWrapper):
    """``COGENOperationWrapper(gate, module)``: the original's argument order."""

    __slots__ = ()

    def __init__(self, gate: CogenProxy, module: Any) -> None:
        super().__init__(module, gate)


class COGENOperationCall(ParkingCall):
    """``COGENOperationCall(gate, obj)``: the original's argument order."""

    __slots__ = ()

    def __init__(self, gate: CogenProxy, obj: Callable[..., Any]) -> None:
        super().__init__(obj, gate)


COGENCallWrapper = CallWrapper
COGENSimpleWrapper = YieldWrapper
