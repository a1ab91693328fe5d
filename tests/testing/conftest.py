from __future__ import annotations

from typing import Iterator

import pytest

from .apps import closed


@pytest.fixture(autouse=True)
def _forget_closed() -> Iterator[None]:
    closed.clear()
    yield


@pytest.fixture(params=["tcp", "unix", "memory"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param
