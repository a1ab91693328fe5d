"""``cogen.core.util``: ``priority`` (accepted everywhere, ignored: ordering is the loop's FIFO),
the ``debug`` call-tracing decorator and ``fmt_list``."""

from __future__ import annotations

import functools
import pprint
import sys
import traceback
from typing import IO, Any, Callable

from cogen_aio.priority import priority

__all__ = ["debug", "priority", "fmt_list"]


def debug(
    trace: bool = True,
    backtrace: int = 1,
    other: Callable[..., Any] | None = None,
    output: IO[str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator printing each call of the function: arguments, ``backtrace`` caller frames, the
    result, and with ``trace`` every line it runs. A debugging aid (cogen-api.md §3)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        name = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', func)}"

        def tracer(frame: Any, event: str, arg: Any) -> Any:
            out = output or sys.stderr
            print(f"--- Tracer: {event}, {arg!r}", file=out)
            traceback.print_stack(frame, 1, file=out)
            return tracer

        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            out = output or sys.stderr
            print(f"\n--- Calling {name} with:", file=out)
            for item in enumerate(args):
                print("    | %s: %s" % item, file=out)
            print("    | " + pprint.pformat(kwargs), file=out)
            print("    From:", file=out)
            for line in traceback.format_stack(sys._getframe(1), backtrace):
                print(line, end="", file=out)
            if other is not None:
                print(f"---      [ {other(func, args, kwargs)!r} ]", file=out)
            previous = sys.gettrace()
            if trace:
                sys.settrace(tracer)
            try:
                result = func(*args, **kwargs)
            finally:
                if trace:
                    sys.settrace(previous)
            print(f"--- {name} returned: {result!r}", file=out)
            return result

        return wrapped

    return decorate


def fmt_list(lst: list[Any], lim: int = 100) -> str:
    """``repr`` of a list of strings, cut after about ``lim`` characters."""
    if sum(len(i) for i in lst) <= lim:
        return repr(lst)
    shown = []
    length = 0
    for item in lst:
        if length + len(item) > lim:
            shown.append(item[: lim - length] + " ...")
            break
        shown.append(item)
        length += len(item)
    more = f" .. {len(lst) - len(shown)} more" if len(shown) < len(lst) else ""
    return "[%s%s]" % (", ".join(repr(i) for i in shown), more)
