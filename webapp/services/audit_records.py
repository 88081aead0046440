"""Audit files read as CSV records, never as lines: a quoted line feed can never forge a row.

The audit writer quotes a cell holding a line feed, so a line of the file is not always a row:
a reader that split on line feeds would take the text inside such a cell for a row of its own.
Every function here hands whole records to the csv module. The quick byte searches stay (a
day file of a million rows is not parsed to find one request): a line is a record's first
line only when the number of quote characters before it is even, since the writer puts quotes
only around cells and doubles those inside them.
"""

import csv
import io

QUOTE = b'"'


def _text(data):
    return data.decode("utf-8", errors="replace")


def parse_records(data):
    """Every record of CSV bytes, in file order, as lists of cells."""
    return list(csv.reader(io.StringIO(_text(data), newline="")))


def split_header(content):
    """(column names, body bytes) of a whole audit file; the header has no quoted cell."""
    header, _, body = content.partition(b"\n")
    return next(csv.reader([header.decode("utf-8-sig").rstrip("\r")]), []), body


def record_end(body, start):
    """The end of the record that begins at `start`: the first line feed outside quotes."""
    end = body.find(b"\n", start)
    while end >= 0 and body.count(QUOTE, start, end) % 2:
        end = body.find(b"\n", end + 1)
    return len(body) if end < 0 else end + 1


def parse_span(body, start, end):
    """The cells of the record(s) in body[start:end], parsed by the csv module."""
    text = _text(body[start:end])
    if "\n" in text.rstrip("\r\n"):
        return [cells for cells in csv.reader(io.StringIO(text, newline="")) if cells]
    cells = next(csv.reader([text]), [])
    return [cells] if cells else []


class Boundaries:
    """Tells whether an offset of `body` is the start of a record, moving forward cheaply."""

    def __init__(self, body):
        self.body = body
        self.upto = 0
        self.quotes = 0

    def record_start(self, position):
        """The start of the record holding the line at `position` (a line start, >= upto)."""
        self.quotes += self.body.count(QUOTE, self.upto, position)
        self.upto = position
        while self.quotes % 2 and position > 0:
            # The line begins inside a quoted cell: its record began on an earlier line.
            previous = self.body.rfind(b"\n", 0, position - 1) + 1
            self.quotes -= self.body.count(QUOTE, previous, position)
            position = self.upto = previous
        return position


def spans_holding(body, needles):
    """(start, end) of each record of `body` whose text holds every needle, in file order.

    Only bytes are searched: the longest needle's hits are widened to their whole record.
    """
    longest = max(needles, key=len)
    boundaries, found, position = Boundaries(body), [], 0
    while (hit := body.find(longest, position)) >= 0:
        line_start = body.rfind(b"\n", 0, hit) + 1
        start = boundaries.record_start(max(line_start, position))
        end = record_end(body, start)
        if all(needle in body[start:end] for needle in needles):
            found.append((start, end))
        position = max(end, hit + 1)
    return found


def records_holding(body, needles, newest_first=False):
    """The records (cells) of `body` that hold every needle, parsed lazily in the order asked.

    A needle inside a quoted multi-line cell finds the real row, never a forged one.
    """
    spans = spans_holding(body, needles)
    for start, end in reversed(spans) if newest_first else spans:
        yield from parse_span(body, start, end)


def records_newest_first(body, block=1 << 20):
    """Every record of `body`, last first, parsed about `block` bytes at a time from the end."""
    total, after, stop = body.count(QUOTE), 0, len(body)
    while stop > 0:
        start = max(stop - block, 0)
        start = body.find(b"\n", start, stop - 1) + 1 if start else 0
        after += body.count(QUOTE, start, stop)
        while (total - after) % 2 and start > 0:
            # The block would begin inside a quoted cell: take in the lines before it.
            previous = body.rfind(b"\n", 0, start - 1) + 1
            after += body.count(QUOTE, previous, start)
            start = previous
        records = [cells for cells in csv.reader(io.StringIO(_text(body[start:stop]),
                                                             newline="")) if cells]
        yield from reversed(records)
        stop = start
