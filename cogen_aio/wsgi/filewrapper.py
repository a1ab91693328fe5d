"""``wsgi.file_wrapper`` (PEP 3333 "Optional Platform-Specific File Handling")."""

from __future__ import annotations

import os
from typing import IO, Any, Iterator


class FileWrapper:
    """Iterates a file in blocks; the server sends it with ``loop.sendfile`` (zero-copy where the
    transport allows) when the app returns it unwrapped and the file has a real descriptor."""

    def __init__(self, filelike: IO[bytes], blksize: int = 65536) -> None:
        self.filelike = filelike
        self.blksize = blksize
        close = getattr(filelike, "close", None)
        if close is not None:
            self.close = close

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while True:
            block = read(self.blksize)
            if not block:
                return
            yield block

    def blocks(self, length: int) -> Iterator[bytes]:
        """At most ``length`` bytes from the current position, in blocks."""
        read = self.filelike.read
        blksize = self.blksize
        while length > 0:
            block = read(min(blksize, length))
            if not block:
                return
            length -= len(block)
            yield block

    def sendfile_span(self) -> tuple[int, int] | None:
        """(offset, remaining length) when the file can go through ``sendfile``, else None."""
        try:
            fileno = self.filelike.fileno()
            offset = self.filelike.tell()
            size = os.fstat(fileno).st_size
        except (AttributeError, OSError, ValueError):
            return None
        if offset > size:
            return None
        return offset, size - offset

    def close(self) -> Any:  # replaced by the file's own close when it has one
        return None
