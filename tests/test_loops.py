from __future__ import annotations

import asyncio
import builtins
import sys
from typing import Any

import pytest

from cogen_aio.config import ConfigError
from cogen_aio.loops import _run_without_runner, get_loop_factory, run

try:
    import uvloop
except ImportError:  # not installed, or Windows
    uvloop = None  # type: ignore[assignment]

needs_uvloop = pytest.mark.skipif(uvloop is None, reason="uvloop is not installed")


def make(name: str) -> asyncio.AbstractEventLoop:
    loop = get_loop_factory(name)()
    loop.close()
    return loop


@pytest.fixture
def without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "uvloop" or name.startswith("uvloop."):
            raise ImportError("No module named 'uvloop'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "uvloop", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_asyncio_is_the_standard_loop() -> None:
    loop = make("asyncio")
    assert isinstance(loop, asyncio.BaseEventLoop)
    assert uvloop is None or not isinstance(loop, uvloop.Loop)


@needs_uvloop
def test_uvloop() -> None:
    assert isinstance(make("uvloop"), uvloop.Loop)


@needs_uvloop
def test_auto_prefers_uvloop() -> None:
    assert isinstance(make("auto"), uvloop.Loop)


def test_auto_without_uvloop_is_the_standard_loop(without_uvloop: None) -> None:
    assert type(make("auto")) is type(make("asyncio"))


def test_uvloop_not_installed(without_uvloop: None) -> None:
    with pytest.raises(ConfigError) as info:
        get_loop_factory("uvloop")
    assert str(info.value) == "loop: uvloop is not installed (pip install cogen_aio[uvloop])"


def test_bad_name() -> None:
    with pytest.raises(ConfigError) as info:
        get_loop_factory("trio")
    assert str(info.value) == "loop: expected one of auto, asyncio, uvloop, got 'trio'"


def test_does_not_touch_the_global_policy() -> None:
    policy = asyncio.get_event_loop_policy()
    get_loop_factory("auto")
    assert asyncio.get_event_loop_policy() is policy


async def _answer() -> tuple[int, type]:
    await asyncio.sleep(0)
    return 42, type(asyncio.get_running_loop())


@pytest.mark.parametrize("name", ["asyncio", "auto"])
def test_run(name: str) -> None:
    factory = get_loop_factory(name)
    answer, loop_type = run(_answer(), factory)
    assert answer == 42
    assert loop_type is type(make(name))


def test_run_without_runner_matches_asyncio_run() -> None:
    # The Python 3.10 path: leftover tasks are cancelled and the loop closed.
    seen: list[asyncio.AbstractEventLoop] = []
    cancelled = []

    async def straggler() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> str:
        seen.append(asyncio.get_running_loop())
        asyncio.get_running_loop().create_task(straggler())
        await asyncio.sleep(0)
        return "done"

    assert _run_without_runner(main(), get_loop_factory("asyncio")) == "done"
    assert cancelled == [True]
    assert seen[0].is_closed()
