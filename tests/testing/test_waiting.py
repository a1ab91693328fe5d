"""Hang guards: real seconds, whatever the loop's clock says."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .apps import app

aio = pytest.mark.asyncio


@aio
async def test_hang_guard_uses_real_time_under_the_virtual_clock(
    cogen_server: Any, cogen_clock: Any
) -> None:
    server = await cogen_server(app)
    conn = await server.connect()
    await conn.send_request("GET", "/forever")
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await conn.read_response(timeout=0.2)
    assert 0.15 < time.monotonic() - started < 2.0
