"""Plain lines of a batch file read in blocks: checked at once with numpy, parsed by pandas.

Nearly every line of a plant export is plain: UTF-8 text, no quote, no NUL, no carriage
return but before its line feed, no longer than MAX_LINE_BYTES, with exactly the header's
number of separators. For such lines pandas' C parser gives the very cells the csv module
gives, at a fraction of the cost, so the reader (services/batch/reader.py) hands them to it
a chunk at a time and reads only the other lines record by record, where each bad line is
named. A block's plain lines are those before its first line that is not plain.
"""

import csv
import io

import numpy as np
import pandas as pd

MAX_LINE_BYTES = 1 << 20  # a longer "line" is binary junk or a broken export, not a reading
BOM = b"\xef\xbb\xbf"
BLOCK_BYTES = 1 << 20  # bytes read from the file at a time
PEEK_BYTES = 16 << 20  # at most this much is looked at ahead for a chunk of plain lines
# After a line that is not plain, this many lines are read record by record before the next
# look for plain lines: a file with many bad lines is not cut into tiny chunks.
CAREFUL_LINES = 1_000


class LineSource:
    """A file after its header, read in blocks: whole lines at once for the plain lines, and
    line by line (as io's readline) for the others."""

    def __init__(self, binary):
        self.binary = binary
        self.buffer = b""
        self.position = 0
        self.ended = False

    def _more(self):
        if self.ended:
            return False
        block = self.binary.read(BLOCK_BYTES)
        if not block:
            self.ended = True
            return False
        self.buffer = self.buffer[self.position:] + block
        self.position = 0
        return True

    def readline(self, limit):
        """The next line with its line feed, of at most `limit` bytes (b"" at the end)."""
        while True:
            end = self.buffer.find(b"\n", self.position)
            if end >= 0 or len(self.buffer) - self.position >= limit or not self._more():
                break
        stop = end + 1 if end >= 0 else len(self.buffer)
        stop = min(stop, self.position + limit)
        line = self.buffer[self.position:stop]
        self.position = stop
        return line

    def whole_lines(self, count):
        """(bytes, lines): up to `count` whole lines ahead, not consumed."""
        while (self.buffer.count(b"\n", self.position) < count
               and len(self.buffer) - self.position < PEEK_BYTES and self._more()):
            pass
        data = self.buffer[self.position:self.buffer.rfind(b"\n", self.position) + 1] \
            if self.buffer.find(b"\n", self.position) >= 0 else b""
        ends = line_ends(data)
        if len(ends) > count:
            data = data[:ends[count - 1] + 1]
        return data, min(len(ends), count)

    def consume(self, size):
        """Move past `size` bytes already looked at with whole_lines."""
        self.position += size

    def at_end(self):
        """Whether every byte of the file has been consumed."""
        return self.position >= len(self.buffer) and not self._more()

    def tell(self):
        """Bytes of the file consumed so far."""
        return self.binary.tell() - (len(self.buffer) - self.position)


def line_ends(data):
    """The offsets of the line feeds of `data`."""
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)


def clean_lines(data, count, width, separator):
    """How many of the `count` whole lines of `data` come first and are plain."""
    if not count or width < 2:
        return 0
    ends = line_ends(data)[:count]
    bad = []
    if data.startswith(BOM):  # pandas would drop a BOM at the start of what it reads
        bad.append(0)
    array = np.frombuffer(data, dtype=np.uint8)
    separators = np.flatnonzero(array == ord(separator))
    fields = np.diff(np.searchsorted(separators, ends), prepend=0) + 1
    lengths = np.diff(ends, prepend=-1)
    wrong = np.flatnonzero((fields != width) | (lengths > MAX_LINE_BYTES))
    if len(wrong):
        bad.append(int(wrong[0]))
    for byte in (b'"', b"\0"):
        found = data.find(byte)
        if found >= 0:
            bad.append(int(np.searchsorted(ends, found)))
    if b"\r" in data:  # a carriage return ends a line for pandas, not for the csv module
        returns = np.flatnonzero(array == 13)
        alone = returns[(returns + 1 >= len(data)) | (array[np.minimum(returns + 1,
                                                                       len(data) - 1)] != 10)]
        if len(alone):
            bad.append(int(np.searchsorted(ends, alone[0])))
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad.append(int(np.searchsorted(ends, exc.start)))
    return min(bad + [count])


def read_plain(data, columns, separator):
    """(table, comma lines) of plain lines (see clean_lines): their text cells as a table of
    str, as csv reads them, and each line with ',' between its cells when no cell holds a ','
    (else None): such a line is the cells as csv.writer writes them."""
    table = pd.read_csv(io.BytesIO(data), sep=separator, header=None, dtype=object,
                        na_filter=False, keep_default_na=False, quoting=csv.QUOTE_NONE,
                        skip_blank_lines=False, engine="c", encoding="utf-8")
    table.columns = list(columns)
    comma_lines = None
    if separator == "," or b"," not in data:
        text = data.decode("utf-8").replace("\r\n", "\n")
        comma_lines = (text if separator == "," else text.replace(separator, ",")).split("\n")
        comma_lines.pop()  # after the last line feed
    return table, comma_lines
