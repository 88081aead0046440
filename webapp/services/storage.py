"""Files shared by several processes: one locked CSV append, one atomic replace, small JSON reads.

Every service writes through these few functions, so each kind of write has one durability
level: an append is one write() under an exclusive lock; a replace writes a temporary file,
fsyncs it, renames it over the old one and fsyncs the folder, so that a crash leaves the old
or the new file whole, never half of one.
"""

import csv
import fcntl
import io
import json
import os
import uuid
from datetime import datetime, timezone

from webapp.services.audit_chain import (CHAIN_COLUMN, chain_lines, last_hash, read_head,
                                         split_lines)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMULA_FIRST = frozenset(FORMULA_PREFIXES)
FEW_ROWS = 4  # fewer rows than this are rendered by csv.writer itself (render_rows)


def utc_now_iso():
    """Current UTC time, ISO 8601 with milliseconds and a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def neutralise_formula(text):
    """Prefix a cell that a spreadsheet would run as a formula, so that it stays text."""
    if isinstance(text, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def neutralise_formula_parts(text):
    """neutralise_formula on every ';'-separated part of a cell of a downloaded CSV.

    A French spreadsheet splits a comma file's line on ';' too, so `a;=1+1;b` holds a formula
    in its middle part.
    """
    if isinstance(text, str) and ";" in text:
        return ";".join(neutralise_formula(part) for part in text.split(";"))
    return neutralise_formula(text)


def _cell(value):
    # Dispatch on the exact type: this runs for every cell of every audited reading.
    kind = type(value)
    if kind is str:
        return "'" + value if value[:1] in FORMULA_FIRST else value
    if kind is float:
        return repr(value)
    if kind is bool:
        return "1" if value else "0"
    if value is None:
        return ""
    return neutralise_formula(str(value))


def _csv_rows(rows, columns):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def _quoted(text):
    """A cell as csv.writer writes it: quoted when it holds the separator or a quote."""
    if "\n" in text or "\r" in text:  # rare: leave line breaks to the csv module's own rules
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([text, ""])
        return buffer.getvalue()[:-2]  # without the empty second cell's "," and the "\n"
    if '"' in text or "," in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def text_cells(texts):
    """CSV cells of text values as csv.writer writes them, without the formula guard."""
    joined = "".join(texts)
    if '"' in joined or "," in joined or "\n" in joined or "\r" in joined:
        return list(map(_quoted, texts))
    return list(texts)


def _needs_care(joined):
    """Whether cells, each after a line feed in `joined`, hold one that starts like a formula
    or a character that makes csv.writer quote a cell."""
    if '"' in joined or "," in joined or "\r" in joined:
        return True
    return any(first in joined and "\n" + first in joined for first in FORMULA_PREFIXES)


def column_cells(values):
    """The CSV cells of one column's values, as _cell and csv.writer would write each one."""
    kinds = set(map(type, values))
    if kinds == {float}:
        return list(map(repr, values))  # a float's repr never needs quoting
    if kinds == {str}:
        distinct = set(values)
        repeats = len(distinct) * 2 < len(values)
        looked_at = distinct if repeats else values
        joined = "\n" + "\n".join(looked_at)
        if joined.count("\n") == len(looked_at) and not _needs_care(joined):
            return list(values)  # no cell to neutralise or quote: the text as it is
        if repeats:
            # Columns such as request_id or asset repeat one value: render each value once.
            rendered = {value: _quoted(_cell(value)) for value in distinct}
            return [rendered[value] for value in values]
    cells = list(map(_cell, values))
    joined = "".join(cells)
    if '"' in joined or "," in joined or "\n" in joined or "\r" in joined:
        return list(map(_quoted, cells))
    return cells


def cell_of(value):
    """The CSV cell of one value, as render_rows writes it in any row."""
    return column_cells([value])[0]


def render_rows(rows, columns):
    """Complete CSV lines for `rows` (dicts), formula-safe, as one string, as csv.writer writes.

    Rendered column by column: a request of thousands of readings is a few list operations
    per column instead of a csv.writer call and a _cell call per cell.
    """
    # csv.writer writes a lone empty cell as ""; and it is the quicker below about four rows
    # (one reading: 7 us against 25), where the column set-up costs more than it saves.
    if len(columns) < 2 or len(rows) < FEW_ROWS:
        return _csv_rows(rows, columns)
    cells = [column_cells([row.get(column) for row in rows]) for column in columns]
    return "\n".join(map(",".join, zip(*cells, strict=True))) + "\n"


def append_csv(path, rows, columns):
    """Append complete lines with one write() under an exclusive lock; header if new.

    `rows` is a list of dicts, or a block of rows carried as columns: an object whose
    `lines(columns)` renders the rows' lines as render_rows would (None when it cannot) and
    whose `rows()` gives them as dicts (services/audit_block.py).

    O_APPEND plus flock means lines from several workers never interleave, and the header
    is written exactly once even when two processes create the file together. When the
    columns end with the chain column (the audit), each row's hash is computed under the same
    lock from the hash at the end of the file. A file begun with older columns keeps them.
    Returns the (start, end) offsets of the rows' lines in the file.
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            header, header_size = read_head(fd)
            written_columns = _columns_of(header, columns)
            head, body = b"", _render_body(rows, written_columns, fd, size, header_size)
        else:
            head = render_rows([dict(zip(columns, columns, strict=True))], columns).encode()
            body = _render_body(rows, columns)
        data = head + body.encode("utf-8")
        written = os.write(fd, data)
        if written != len(data):
            # A short write leaves a partial line; cut it off so the file still parses.
            os.ftruncate(fd, os.fstat(fd).st_size - written)
            raise OSError("short write to the audit file")
    finally:
        os.close(fd)
    return size + len(head), size + len(data)


def _columns_of(header, columns):
    """The columns of an existing file: `columns`, or the older list its header names."""
    if header == ",".join(columns):
        return columns
    named = next(csv.reader([header]), [])
    return tuple(name for name in named if name in columns) or columns


def _render_body(rows, columns, fd=None, size=0, header_size=0):
    """The rows' lines, each ending with its chain hash when the file is chained."""
    if columns[-1] != CHAIN_COLUMN:
        return render_rows(rows.rows() if hasattr(rows, "rows") else rows, columns)
    cells = columns[:-1]
    lines = rows.lines(cells) if hasattr(rows, "lines") else None
    if lines is None:
        rows = rows.rows() if hasattr(rows, "rows") else rows
        body = render_rows(rows, cells)
        lines = split_lines(body, len(rows), lambda i: [_cell(rows[i].get(c)) for c in cells])
    previous = last_hash(fd, size, header_size) if size else ""
    return chain_lines(previous, lines)[0]


def write_atomic(path, write):
    """Replace `path` with what write(text handle) writes: temporary file, fsync, rename, fsync
    of the folder. Readers in other processes see the old file or the new one, whole."""
    folder = os.path.dirname(path) or "."
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_json_atomic(path, data, **dump_options):
    """Replace a small JSON file at once (json.dump options pass through)."""
    dump_options.setdefault("ensure_ascii", False)
    write_atomic(path, lambda handle: json.dump(data, handle, **dump_options))


def write_text_atomic(path, text):
    """Replace a small text file at once."""
    write_atomic(path, lambda handle: handle.write(text))


def day_files(directory, pattern):
    """{day: path} of the files in `directory` whose name `pattern` matches (group 1: the day)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    return {m.group(1): os.path.join(directory, name)
            for name in names if (m := pattern.match(name))}


def read_json(path, default=None):
    """A JSON file's content, or `default` when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default
