"""The file side of a stream follower: which file, which segment (one inode from its header
on), which complete lines are new, and whether the file was truncated or rotated."""

import hashlib
import os
from dataclasses import dataclass

from webapp.services.csvfiles import split_bare_cr

MAX_LINE_BYTES = 1 << 20


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


class FileTail:
    """Finding, opening and reading the followed file, for StreamFollower.

    Kept apart from the scoring so that each half reads on its own; it works on the
    follower's own fields (path, segment, handle, next_segment, from_end, max_lines,
    logged_error_lines) and calls back its _say, _log_errors and _read_header.
    """

    def _open_current_file(self, fresh):
        """Reopen the checkpoint's file (even renamed), or open the path for a new segment."""
        if self.segment is not None:
            found = self._find_segment_file()
            if found:
                self.handle = open(found, "rb")
                if self._truncated():
                    self._say(f"{found} no longer holds line {self.segment.line} as read "
                              "before the stop: it was truncated or replaced; reading its "
                              "content from the header")
                    self._start_segment(found, self.handle)
                return
            self._say(f"the file read before the stop ({self.segment.path}) is gone; lines "
                      f"written to it after line {self.segment.line}, if any, could not be read")
            self._log_errors([(self.segment.line + 1, "", "file_gone",
                               "the rotated file was removed before it was read to its end")])
            self._close_handle()
            self.segment = None
        self._open_path(fresh)

    def _find_segment_file(self):
        """The path of the checkpoint's inode: the followed path or a rotated name beside it."""
        directory = os.path.dirname(self.path)
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            names = []
        candidates = [self.path] + [os.path.join(directory, name) for name in names]
        for candidate in candidates:
            try:
                status = os.stat(candidate)
            except OSError:
                continue
            if (status.st_dev, status.st_ino) == (self.segment.dev, self.segment.ino):
                return candidate
        return None

    def _open_path(self, fresh=False):
        """Start a segment on the followed path if it exists; True when one was started."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return False
        self._start_segment(self.path, handle)
        if fresh and self.from_end:
            self._skip_to_end()
        return True

    def _start_segment(self, path, handle):
        status = os.fstat(handle.fileno())
        if self.handle is not None and self.handle is not handle:
            self._close_handle()
        self.handle = handle
        self.segment = Segment(self.next_segment, path, status.st_dev, status.st_ino)
        self.next_segment += 1
        self.logged_error_lines = set()

    def _skip_to_end(self):
        """Start after the last complete line (header still read): --from-end on a new stream."""
        header = self.handle.readline(MAX_LINE_BYTES)
        if not header.endswith(b"\n"):
            return
        loaded = self.models.get(self.asset)
        self._read_header(header, loaded.sensors)
        last, offset, line = header, self.handle.tell(), 1
        for raw in iter(lambda: self.handle.readline(MAX_LINE_BYTES), b""):
            if not raw.endswith(b"\n"):
                break
            last, offset, line = raw, offset + len(raw), line + 1
        self.segment.consumed(last, offset, line)
        self.segment.audited_through = line

    def _close_handle(self):
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def _read_lines(self, final=False):
        """Up to max_lines complete lines after the offset as (line number, bytes, end offset).

        A last line without its newline is still being written and waits, unless `final`
        (the file was rotated away and has stopped growing).
        """
        self.handle.seek(self.segment.offset)
        lines, offset, number = [], self.segment.offset, self.segment.line
        while len(lines) < self.max_lines:
            raw = self.handle.readline(MAX_LINE_BYTES)
            pieces = split_bare_cr(raw)  # a CR alone also ends a line (old data loggers)
            for piece in pieces[:self.max_lines - len(lines)]:
                # A CR at the very end may be the first half of a CRLF: it waits, like a
                # line without its LF, until more arrives or the file is rotated away.
                last = piece is pieces[-1]
                if not piece or (last and not piece.endswith(b"\n") and not final
                                 and len(raw) < MAX_LINE_BYTES):
                    return lines
                offset, number = offset + len(piece), number + 1
                lines.append((number, piece, offset))
        return lines

    def _truncated(self):
        """True when the open file lost what was read: shorter, or rewritten past the offset."""
        size = os.fstat(self.handle.fileno()).st_size
        return size < self.segment.offset or not self.segment.still_holds_last_line(self.handle)

    def _file_change(self):
        """'truncated', 'rotated' or None, judged once the current segment has nothing new."""
        if self._truncated():
            return "truncated"
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return None
        if (status.st_dev, status.st_ino) != (self.segment.dev, self.segment.ino):
            return "rotated"
        return None
