"""``wsgi.errors``: a text stream that writes to the ``cogen_aio.error`` logger."""

from __future__ import annotations

import logging
from typing import Iterable

error_log = logging.getLogger("cogen_aio.error")


class ErrorStream:
    """PEP 3333 error stream. Writes are collected into lines; each complete line becomes one
    ERROR record, so tracebacks printed by apps keep their shape in the log.

    A plain object (PEP 3333 asks for write, writelines and flush only): every connection has
    one, and an ``io`` object costs several times the memory."""

    __slots__ = ("_logger", "_partial")

    def __init__(self, logger: logging.Logger = error_log) -> None:
        self._logger = logger
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if isinstance(text, bytes):  # legacy apps
            text = text.decode("utf-8", "replace")
        data = self._partial + text
        lines = data.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._logger.error("%s", line)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._partial:
            partial, self._partial = self._partial, ""
            self._logger.error("%s", partial)
