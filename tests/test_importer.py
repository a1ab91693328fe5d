from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from cogen_aio.importer import ImportFromStringError, import_from_string, load_app


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path to write throwaway modules into."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(directory: Path, name: str, source: str) -> None:
    path = directory.joinpath(*name.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


def message(spec: str, factory: bool = False) -> str:
    with pytest.raises(ImportFromStringError) as info:
        load_app(spec, factory=factory)
    return str(info.value)


def test_imports_nested_attribute(modules: Path) -> None:
    write(modules, "ipkg/__init__.py", "")
    write(
        modules,
        "ipkg/hello.py",
        """
        class Holder:
            def app(environ, start_response):
                return []
        """,
    )
    holder = import_from_string("ipkg.hello:Holder")
    assert import_from_string("ipkg.hello:Holder.app") is holder.app


@pytest.mark.parametrize("spec", ["hello", "hello:", ":app", ""])
def test_bad_format(spec: str) -> None:
    assert message(spec) == f'import string "{spec}" must be in format "<module>:<attribute>"'


def test_module_not_found(modules: Path) -> None:
    assert message("nosuch_cogen_module:app") == 'could not import module "nosuch_cogen_module"'


def test_missing_parent_package_is_also_not_found(modules: Path) -> None:
    assert message("nosuch_cogen_pkg.sub:app") == 'could not import module "nosuch_cogen_pkg.sub"'


def test_missing_dependency_of_an_existing_module_is_named(modules: Path) -> None:
    write(modules, "needs_dep.py", "import nosuch_cogen_dependency\n")
    assert message("needs_dep:app") == (
        'could not import module "needs_dep": No module named \'nosuch_cogen_dependency\''
    )


def test_other_errors_in_the_module_propagate(modules: Path) -> None:
    # The user's own bug: its traceback is what they need, so it is not
    # turned into a one-line message.
    write(modules, "broken_app.py", "raise RuntimeError('boom')\n")
    with pytest.raises(RuntimeError, match="boom"):
        load_app("broken_app:app")


def test_attribute_not_found(modules: Path) -> None:
    write(modules, "hello.py", "class app_holder:\n    pass\n")
    assert message("hello:app") == 'attribute "app" not found in module "hello"'
    assert message("hello:app_holder.app") == 'attribute "app_holder.app" not found in module "hello"'


def test_not_callable(modules: Path) -> None:
    write(modules, "notcallable.py", "app = 42\n")
    assert message("notcallable:app") == '"notcallable:app" is not callable'


def test_plain_app(modules: Path) -> None:
    write(modules, "plain.py", "def app(environ, start_response):\n    return []\n")
    assert load_app("plain:app").__name__ == "app"


def test_factory(modules: Path) -> None:
    write(
        modules,
        "factories.py",
        """
        def app(environ, start_response):
            return []

        def create_app(debug=False):
            return app

        def needs_args(settings):
            return app

        def returns_nothing():
            return None

        def raises_type_error():
            raise TypeError("inside the factory")

        not_callable = 3
        """,
    )
    assert load_app("factories:create_app", factory=True) is import_from_string("factories:app")
    assert message("factories:needs_args", factory=True) == (
        "factory \"factories:needs_args\" must be callable with no arguments "
        "(missing a required argument: 'settings')"
    )
    assert message("factories:returns_nothing", factory=True) == (
        'factory "factories:returns_nothing" returned None, which is not callable'
    )
    assert message("factories:not_callable", factory=True) == (
        '"factories:not_callable" is not callable, so it cannot be used as an application factory'
    )
    # A TypeError from the factory's own body is a bug there, not a usage error.
    with pytest.raises(TypeError, match="inside the factory"):
        load_app("factories:raises_type_error", factory=True)
