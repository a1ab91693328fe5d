"""Shared test setup: ``memory`` (the in-memory transport and client) is importable by name."""

from __future__ import annotations

import logging
import os
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def error_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog capturing ``cogen_aio.error`` from DEBUG up."""
    with caplog.at_level(logging.DEBUG, logger="cogen_aio.error"):
        yield caplog
