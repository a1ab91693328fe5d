"""Load the application named by an import string such as ``"pkg.module:app"``.

Every failure a user can cause by mistyping becomes an
``ImportFromStringError`` with a one-line message, so the command line can
print it without a traceback. An exception raised by the application's own
module while it is being imported is *not* one of those: it propagates
unchanged, because its traceback is exactly what the user needs to see.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

__all__ = ["ImportFromStringError", "import_from_string", "load_app"]


class ImportFromStringError(Exception):
    """The import string is malformed or names something that does not exist."""


def import_from_string(spec: str) -> Any:
    """Import ``"module:attr.subattr"`` and return the object it names."""
    module_name, _, attrs = spec.partition(":")
    if not module_name or not attrs:
        raise ImportFromStringError(
            f'import string "{spec}" must be in format "<module>:<attribute>"'
        )

    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # "Not found" only when the missing module is the one asked for (or
        # one of its parent packages). If the module exists but one of *its*
        # imports is missing, saying "could not import module" alone would
        # send the user looking in the wrong place, so keep the real name.
        if exc.name is not None and _is_same_or_parent(exc.name, module_name):
            raise ImportFromStringError(f'could not import module "{module_name}"') from None
        raise ImportFromStringError(f'could not import module "{module_name}": {exc}') from None

    instance: Any = module
    for attr in attrs.split("."):
        try:
            instance = getattr(instance, attr)
        except AttributeError:
            raise ImportFromStringError(
                f'attribute "{attrs}" not found in module "{module_name}"'
            ) from None
    return instance


def load_app(spec: str, factory: bool = False) -> Any:
    """The WSGI application named by ``spec``.

    With ``factory``, ``spec`` names a callable taking no arguments that
    returns the application. Either way what comes back must be callable:
    that is all PEP 3333 asks of an application object.
    """
    app = import_from_string(spec)
    if factory:
        if not callable(app):
            raise ImportFromStringError(
                f'"{spec}" is not callable, so it cannot be used as an application factory'
            )
        _check_takes_no_arguments(spec, app)
        app = app()
        if not callable(app):
            raise ImportFromStringError(
                f'factory "{spec}" returned {_describe(app)}, which is not callable'
            )
    elif not callable(app):
        raise ImportFromStringError(f'"{spec}" is not callable')
    return app


def _is_same_or_parent(name: str, module_name: str) -> bool:
    return module_name == name or module_name.startswith(name + ".")


def _check_takes_no_arguments(spec: str, factory: Any) -> None:
    # Checked on the signature rather than by catching TypeError from the
    # call, so a TypeError raised *inside* the factory keeps its traceback.
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # some builtins have no signature; just call them
    try:
        signature.bind()
    except TypeError as exc:
        raise ImportFromStringError(
            f'factory "{spec}" must be callable with no arguments ({exc})'
        ) from None


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = f"a {type(value).__name__} object"
    return text
