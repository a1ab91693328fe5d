"""Shared test setup: ``memory`` (the in-memory transport and client) is importable by name, and
``http_parser`` runs a test once per request parser (the ``http`` setting)."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import memory  # noqa: E402

HTTPTOOLS_MISSING = importlib.util.find_spec("httptools") is None

#: Every value of the ``http`` setting; httptools' half is skipped, saying why, where it is not
#: installed.
PARSERS = [
    pytest.param("h11", id="h11"),
    pytest.param(
        "httptools",
        id="httptools",
        marks=pytest.mark.skipif(
            HTTPTOOLS_MISSING,
            reason="httptools is not installed (pip install cogen_aio[fast])",
        ),
    ),
]


@pytest.fixture(params=PARSERS)
def http_parser(request: pytest.FixtureRequest) -> Iterator[str]:
    """The ``http`` setting under test. In-memory clients (``memory.Client``) default to it;
    the functional tests' servers use it."""
    saved = memory.DEFAULT_HTTP
    memory.DEFAULT_HTTP = request.param
    try:
        yield request.param
    finally:
        memory.DEFAULT_HTTP = saved


@pytest.fixture
def error_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog capturing ``cogen_aio.error`` from DEBUG up."""
    with caplog.at_level(logging.DEBUG, logger="cogen_aio.error"):
        yield caplog
