"""The part of a followed file being read (a segment: one inode from its header on)."""

import hashlib
import os
from dataclasses import dataclass


@dataclass
class Segment:
    """The part of the file being read: one inode, from its header on."""

    number: int
    path: str
    dev: int
    ino: int
    offset: int = 0
    line: int = 0
    audited_through: int = 0
    separator: str = ""
    columns: list = None
    last_line_sha256: str = ""
    last_line_bytes: int = 0

    def state(self):
        """The segment as JSON-able values."""
        return {key: getattr(self, key) for key in (
            "number", "path", "dev", "ino", "offset", "line", "audited_through", "separator",
            "columns", "last_line_sha256", "last_line_bytes")}

    def consumed(self, raw, offset, line):
        """Record that the file was read up to `offset`, `raw` being line number `line`."""
        self.offset, self.line = offset, line
        self.last_line_sha256, self.last_line_bytes = hashlib.sha256(raw).hexdigest(), len(raw)

    def still_holds_last_line(self, handle):
        """False when the bytes before the offset are no longer the last line read.

        Catches a file truncated and rewritten past the offset between two looks, and a new
        file that reuses the old one's inode: neither can be told by size or inode alone.
        """
        if not self.last_line_bytes:
            return True
        start = self.offset - self.last_line_bytes
        raw = os.pread(handle.fileno(), self.last_line_bytes, start)
        return hashlib.sha256(raw).hexdigest() == self.last_line_sha256
