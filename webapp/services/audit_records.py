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


def record_at(body, start, limit=None):
    """(cells, end offset) of the record that begins at `start`, parsed by the csv module
    (reading no further than `limit`)."""
    lines, end = [], start
    reader = csv.reader(_lines_from(body, start, lines, len(body) if limit is None else limit))
    cells = next(reader, [])
    for line in lines:
        end += len(line)
    return cells, end


def _lines_from(body, start, consumed, limit):
    position = start
    while position < limit:
        stop = body.find(b"\n", position, limit)
        stop = limit if stop < 0 else stop + 1
        consumed.append(body[position:stop])
        yield _text(body[position:stop])
        position = stop


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


def records_holding(body, needles):
    """The records (cells) of `body` whose text holds every needle, in file order.

    The longest needle is searched as bytes; each hit is widened to its whole record, which
    the csv module parses, so a needle inside a quoted multi-line cell finds the real row.
    """
    longest = max(needles, key=len)
    boundaries, found, position = Boundaries(body), [], 0
    while (hit := body.find(longest, position)) >= 0:
        line_start = body.rfind(b"\n", 0, hit) + 1
        start = boundaries.record_start(max(line_start, position))
        cells, end = record_at(body, start)
        if all(needle in body[start:end] for needle in needles) and cells:
            found.append(cells)
        position = max(end, hit + 1)
    return found


def records_newest_first(body):
    """Every record of `body`, last first, parsed lazily from the end of the file."""
    total = body.count(QUOTE)
    after, end = 0, len(body)
    stop = len(body)
    while stop > 0:
        start = body.rfind(b"\n", 0, max(stop - 1, 0)) + 1
        after += body.count(QUOTE, start, stop)
        stop = start
        if (total - after) % 2:
            continue  # inside a quoted cell: the record starts on an earlier line
        cells, _ = record_at(body, start, end)
        end = start
        if cells:
            yield cells
