"""Reading a batch CSV: the header first, then chunks of rows with their line numbers."""

import csv
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.validation import FieldError, SchemaError, check_columns
from webapp.services.batch.blocks import (BOM, CAREFUL_LINES, MAX_LINE_BYTES, LineSource,
                                          clean_lines, line_ends, read_plain)
from webapp.services.csvfiles import sniff_separator, split_bare_cr
from webapp.services.storage import neutralise_formula_parts
from webapp.services.text import find_unsafe

MAX_COLUMNS = 1000  # sensor exports have tens of columns; far more is not a reading table
# Rows of a chunk times its columns: memory follows cells, not rows (20,000 rows of 10 columns).
CHUNK_CELLS = 200_000


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


def _text_lines(binary, flagged, state):
    """(line number, text) of the next lines; unreadable ones become blank.

    `flagged` maps a line number (header = 1) to the reason its content could not be read;
    `state.number` is the number of the last line read.
    """
    while True:
        raw = binary.readline(MAX_LINE_BYTES)
        if not raw:
            state.ended = True
            return
        state.number += 1
        number = state.number
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

    def pending(self):
        """Whether lines wait to be read again."""
        return bool(self._again)

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
    # Each row's line with ',' between its cells, when every row is a plain line whose cells
    # hold no ',' (services/batch/blocks.py), else None.
    comma_lines: list = None


@dataclass
class _Position:
    """The number of the last line read (the header is line 1), and whether the file ended."""

    number: int = 1
    ended: bool = False


class _Filling:
    """The chunk being filled: tables of plain lines and rows read record by record, in
    file order, with the problems met while filling it."""

    def __init__(self):
        self.pieces, self.numbers, self.problems, self.rows = [], [], [], 0
        self.comma_lines = []

    def add_table(self, table, comma_lines, numbers):
        self.pieces.append(table)
        self.numbers.append(numbers)
        self.rows += len(table)
        if self.comma_lines is not None and comma_lines is not None:
            self.comma_lines.extend(comma_lines)
        else:
            self.comma_lines = None

    def add_row(self, fields, line):
        if not self.pieces or not isinstance(self.pieces[-1], list):
            self.pieces.append([])
            self.numbers.append([])
        self.pieces[-1].append(fields)
        self.numbers[-1].append(line)
        self.rows += 1
        self.comma_lines = None

    def chunk(self, columns, position):
        tables = [piece if isinstance(piece, pd.DataFrame) else
                  pd.DataFrame(piece, columns=columns, dtype=object) for piece in self.pieces]
        if not tables:
            table = pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
        else:
            table = tables[0] if len(tables) == 1 else pd.concat(tables, ignore_index=True)
        lines = np.concatenate([np.asarray(numbers, dtype=np.int64)
                                for numbers in self.numbers]) if self.numbers else \
            np.empty(0, dtype=np.int64)
        # Each problem of the reader is one rejected line.
        return Chunk(table, lines, self.problems, len(self.problems), position,
                     self.comma_lines if self.rows else None)


def read_chunks(binary, columns, separator, chunk_rows):
    """Yield Chunk objects of `chunk_rows` well-formed rows each (the last one fewer).

    A line with another number of fields than the header, or that is not text, is a rejected
    row of the chunk, never an error of the whole file. Blank lines are not readings.
    Stretches of plain lines (services/batch/blocks.py) are read by pandas at once; the
    others record by record with the csv module, which names each bad line. Either way a
    chunk ends where the line-by-line reading ended it, so every chunk holds the same rows.
    """
    width = len(columns)
    chunk_rows = max(1, min(chunk_rows, CHUNK_CELLS // max(width, 1)))
    source, state = LineSource(binary), _Position()
    careful = _CarefulReader(source, state, columns, separator)
    filling = _Filling()
    while True:
        need = chunk_rows - filling.rows
        budget = 0
        if not careful.pending():
            data, count = source.whole_lines(need)
            clean = clean_lines(data, count, width, separator)
            if clean:
                size = int(line_ends(data)[clean - 1]) + 1
                filling.add_table(*read_plain(data[:size], columns, separator),
                                  np.arange(state.number + 1, state.number + clean + 1))
                source.consume(size)
                state.number += clean
            elif source.at_end():
                break
            else:
                budget = min(max(count, 1), CAREFUL_LINES)
        if budget or careful.pending():
            careful.read(filling, budget, need)
        if filling.rows >= chunk_rows:
            yield filling.chunk(columns, source.tell())
            filling = _Filling()
        if state.ended and not careful.pending():
            break
    if filling.rows or filling.problems:
        yield filling.chunk(columns, source.tell())


class _CarefulReader:
    """Lines read record by record with the csv module, each bad line named (one reader for
    the whole file, used between stretches of plain lines)."""

    def __init__(self, source, state, columns, separator):
        self.state = state
        self.flagged = {}
        self.lines = _RecordLines(_text_lines(source, self.flagged, state))
        self.reader = csv.reader(self.lines, delimiter=separator)
        self.width = len(columns)
        self.separator = separator

    def pending(self):
        """Whether lines read already wait to be read again as records of their own."""
        return self.lines.pending()

    def read(self, filling, budget, need):
        """Read records into `filling` until `budget` more lines are read and none waits, or
        `need` rows are added, or the file ends."""
        stop, width, lines = self.state.number + budget, self.width, self.lines
        added = 0
        while (self.state.number < stop or lines.pending()) and added < need:
            lines.start_record()
            try:
                fields = next(self.reader)
            except StopIteration:
                return
            except csv.Error as exc:  # for instance a quoted field past the field size limit
                fields, error = None, exc
            taken = lines.taken
            if not taken:
                return
            line = taken[0][0]
            if len(taken) > 1 or fields is None:
                reason = (f"unreadable CSV line ({error})" if fields is None and len(taken) == 1
                          else "a quote opens a field that does not close on this line")
                code = "unreadable" if fields is None and len(taken) == 1 else "stray_quote"
                filling.problems.append(RowProblem(line, "", code, reason,
                                                   taken[0][1].rstrip("\r\n")[:200]))
                lines.read_again(taken[1:])
            elif line in self.flagged:
                code, reason = self.flagged.pop(line)
                filling.problems.append(RowProblem(line, "", code, reason))
            elif len(fields) == width:
                filling.add_row(fields, line)
                added += 1
            elif fields and any(cell.strip() for cell in fields):
                filling.problems.append(RowProblem(
                    line, "", "field_count", f"the line has {len(fields)} fields, the header "
                    f"has {width}", self.separator.join(fields)[:200],
                    {"fields": len(fields), "expected": width}))
