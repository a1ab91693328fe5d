"""Event loop selection: ``auto``, ``asyncio`` or ``uvloop``.

``get_loop_factory`` returns a callable that creates a new loop, for
``asyncio.Runner(loop_factory=...)`` (3.11+) or ``asyncio.run(...,
loop_factory=...)`` (3.12+). It never installs a global event loop policy:
a policy is process-wide state that would outlive the server and leak into
whatever else runs in the process (tests, an embedding application), and
``uvloop.install()`` is deprecated from Python 3.12 on in favour of loop factories.
``run`` wraps the Runner and keeps Python 3.10, which has none, working.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from cogen_aio.config import LOOPS, ConfigError, one_of

__all__ = ["LoopFactory", "get_loop_factory", "run"]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]
T = TypeVar("T")

_check_name = one_of(*LOOPS)


def _stdlib_loop_class() -> LoopFactory:
    # The class asyncio's default policy would use, named explicitly so that
    # "asyncio" means the standard loop even if someone installed uvloop's
    # policy process-wide.
    if sys.platform == "win32":
        return asyncio.ProactorEventLoop  # type: ignore[attr-defined,no-any-return]
    return asyncio.SelectorEventLoop


def _uvloop_factory() -> LoopFactory | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def get_loop_factory(name: str) -> LoopFactory:
    """A callable creating a new event loop of the kind ``name`` asks for.

    ``"auto"`` is uvloop when it is importable, the standard loop otherwise.
    An unknown name, or ``"uvloop"`` without uvloop installed, raises
    ``ConfigError`` naming the ``loop`` setting.
    """
    try:
        name = _check_name(name)
    except ValueError as exc:
        raise ConfigError("loop", str(exc)) from None
    if name == "asyncio":
        return _stdlib_loop_class()
    factory = _uvloop_factory()
    if factory is not None:
        return factory
    if name == "uvloop":
        raise ConfigError("loop", "uvloop is not installed (pip install cogen_aio[uvloop])")
    return _stdlib_loop_class()


def run(main: Coroutine[Any, Any, T], loop_factory: LoopFactory) -> T:
    """Run ``main`` to completion on a new loop from ``loop_factory``.

    The same contract as ``asyncio.run``: remaining tasks are cancelled,
    async generators and the default executor shut down, and the loop closed.
    """
    runner = getattr(asyncio, "Runner", None)
    if runner is not None:
        with runner(loop_factory=loop_factory) as r:
            return r.run(main)  # type: ignore[no-any-return]
    return _run_without_runner(main, loop_factory)


def _run_without_runner(main: Coroutine[Any, Any, T], loop_factory: LoopFactory) -> T:
    # Python 3.10: asyncio.Runner (3.11) does not exist yet; this is what it
    # does, minus its SIGINT handling, which the server does itself.
    loop = loop_factory()
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if task.cancelled():
            continue
        if task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )
