"""Reading a batch CSV: the header first, then chunks of rows with their line numbers."""

import csv
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.validation import FieldError, SchemaError, check_columns
from webapp.services.csvfiles import sniff_separator
from webapp.services.storage import neutralise_formula_parts
from webapp.services.csvfiles import split_bare_cr
from webapp.services.text import find_unsafe

MAX_LINE_BYTES = 1 << 20  # a longer "line" is binary junk or a broken export, not a reading
MAX_COLUMNS = 1000  # sensor exports have tens of columns; far more is not a reading table
# Rows of a chunk times its columns: memory follows cells, not rows (20,000 rows of 10 columns).
CHUNK_CELLS = 200_000
BOM = b"\xef\xbb\xbf"


class BatchFileError(ValueError):
    """The file as a whole cannot be scored; nothing is scored.

    `code` and `params` let each page say it in the user's language; the message is English.
    """

    def __init__(self, code, message, **params):
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass
class RowProblem:
    """Why one row (or one cell of it) was rejected; `line` counts the header as line 1."""

    line: int
    column: str
    code: str
    reason: str
    value: str = ""
    params: dict = field(default_factory=dict)

    def as_field_error(self):
        """The problem as the FieldError every channel records as a rejection."""
        return FieldError(self.line, self.column, self.code, self.reason)

    def as_row(self):
        """The problem as a row of the error report, safe to open in a spreadsheet."""
        return [self.line, neutralise_formula_parts(self.column), self.code, self.reason,
                neutralise_formula_parts(self.value)]


# ---------------------------------------------------------------------------------------------
# Reading: header first, then chunks of rows with their line numbers.


def read_header(binary):
    """(separator, column names) from the first line; BatchFileError when it is not a header."""
    raw = binary.readline(MAX_LINE_BYTES)
    raw = split_bare_cr(raw)[0]  # a file whose lines end with a CR alone
    if raw.startswith(BOM):
        raw = raw[len(BOM):]
    if not raw.strip():
        raise BatchFileError("empty", "the file is empty: the first line must be a header "
                                      "naming the sensor columns")
    if b"\0" in raw or (len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n")):
        raise BatchFileError("not_text", "the file is not a CSV text file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BatchFileError("not_text", "the file is not a CSV text file encoded in UTF-8 "
                                         "(save it as 'CSV UTF-8')") from None
    text = text.rstrip("\r\n")
    # A TAB is let through: a tab-separated file is told it has a single column.
    unsafe = find_unsafe(text.replace("\t", " "))
    if unsafe:
        raise BatchFileError("unsafe_header", "the header holds a control character or an "
                             f"unpaired surrogate ({unsafe[1]} at position {unsafe[0]}): "
                             "column names must be printable text", character=unsafe[1],
                             position=unsafe[0])
    separator = sniff_separator(text)
    columns = [name.strip() for name in next(csv.reader([text], delimiter=separator))]
    if len(columns) > MAX_COLUMNS:
        raise BatchFileError("too_many_columns", f"the header has {len(columns)} columns; at "
                             f"most {MAX_COLUMNS} are read", count=len(columns),
                             limit=MAX_COLUMNS)
    # One pass: counting each name with list.count() held a worker 14.5 s on 40,000 columns.
    duplicated = sorted(name for name, count in Counter(columns).items() if count > 1)
    if duplicated:
        raise BatchFileError("duplicate_columns", "columns named more than once in the header: "
                             + ", ".join(duplicated), columns=duplicated)
    return separator, columns


def check_header(columns, sensors):
    """Raise BatchFileError listing every sensor column missing from the header, by name."""
    try:
        check_columns(columns, sensors)
    except SchemaError as exc:
        hint = ""
        if len(columns) == 1:
            hint = (" (the header has a single column: separate the columns with ';' or ',')")
        raise BatchFileError("missing_columns", f"missing sensor columns: "
                             f"{', '.join(exc.missing)}{hint}; nothing was scored",
                             missing=exc.missing, single_column=len(columns) == 1) from None


def _text_lines(binary, flagged):
    """(line number, text) of the lines after the header; unreadable ones become blank.

    `flagged` maps a line number (header = 1) to the reason its content could not be read.
    """
    number = 1
    while True:
        raw = binary.readline(MAX_LINE_BYTES)
        if not raw:
            return
        number += 1
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = binary.readline(MAX_LINE_BYTES)
            flagged[number] = ("line_too_long", "the line is longer than "
                               f"{MAX_LINE_BYTES // 1024} KiB: not a sensor reading")
            yield number, "\n"
            continue
        if b"\0" in raw:
            flagged[number] = ("not_text", "the line holds binary data, not text")
            yield number, "\n"
            continue
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            flagged[number] = ("not_text", "the line is not UTF-8 text")
            yield number, "\n"


class _RecordLines:
    """The lines csv.reader reads, remembering those of the current record.

    A reading is one line. A stray quote opens a field that csv would run on across the
    following lines (50 valid readings vanished into one cell): such a record is undone, its
    first line rejected and the others read again.
    """

    def __init__(self, numbered_lines):
        self._lines = numbered_lines
        self._again = []
        self.taken = []

    def __iter__(self):
        return self

    def __next__(self):
        item = self._again.pop() if self._again else next(self._lines)
        self.taken.append(item)
        return item[1]

    def start_record(self):
        self.taken = []

    def read_again(self, items):
        self._again.extend(reversed(items))


@dataclass
class Chunk:
    """Rows read from the file: text cells with their line numbers, and rows rejected whole."""

    table: pd.DataFrame
    lines: np.ndarray
    problems: list
    rejected_rows: int
    position: int  # bytes of the file read so far


def read_chunks(binary, columns, separator, chunk_rows):
    """Yield Chunk objects of at most `chunk_rows` well-formed rows each.

    A line with another number of fields than the header, or that is not text, is a rejected
    row of the chunk, never an error of the whole file. Blank lines are not readings.
    """
    flagged = {}
    source = _RecordLines(_text_lines(binary, flagged))
    reader = csv.reader(source, delimiter=separator)
    width = len(columns)
    chunk_rows = max(1, min(chunk_rows, CHUNK_CELLS // max(width, 1)))
    rows, lines, problems, rejected = [], [], [], 0
    while True:
        source.start_record()
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # for instance a quoted field past the field size limit
            fields, error = None, exc
        taken = source.taken
        if not taken:
            break
        line = taken[0][0]
        if len(taken) > 1 or fields is None:
            reason = (f"unreadable CSV line ({error})" if fields is None and len(taken) == 1
                      else "a quote opens a field that does not close on this line")
            code = "unreadable" if fields is None and len(taken) == 1 else "stray_quote"
            problems.append(RowProblem(line, "", code, reason, taken[0][1].rstrip("\r\n")[:200]))
            rejected += 1
            source.read_again(taken[1:])
        elif line in flagged:
            code, reason = flagged.pop(line)
            problems.append(RowProblem(line, "", code, reason))
            rejected += 1
        elif len(fields) == width:
            rows.append(fields)
            lines.append(line)
        elif fields and any(cell.strip() for cell in fields):
            problems.append(RowProblem(line, "", "field_count",
                                       f"the line has {len(fields)} fields, the header has "
                                       f"{width}", separator.join(fields)[:200],
                                       {"fields": len(fields), "expected": width}))
            rejected += 1
        if len(rows) >= chunk_rows:
            yield _chunk(rows, lines, problems, rejected, columns, binary)
            rows, lines, problems, rejected = [], [], [], 0
    if rows or problems:
        yield _chunk(rows, lines, problems, rejected, columns, binary)


def _chunk(rows, lines, problems, rejected, columns, binary):
    table = pd.DataFrame(rows, columns=columns, dtype=object) if rows else \
        pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    return Chunk(table, np.asarray(lines, dtype=np.int64), problems, rejected, binary.tell())
