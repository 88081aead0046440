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

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMULA_FIRST = frozenset(FORMULA_PREFIXES)


def utc_now_iso():
    """Current UTC time, ISO 8601 with milliseconds and a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def neutralise_formula(text):
    """Prefix a cell that a spreadsheet would run as a formula, so that it stays text."""
    if isinstance(text, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


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


def render_rows(rows, columns):
    """Complete CSV lines for `rows` (dicts), formula-safe, as one string."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def append_csv(path, rows, columns):
    """Append complete lines with one write() under an exclusive lock; header if new.

    O_APPEND plus flock means lines from several workers never interleave, and the header
    is written exactly once even when two processes create the file together.
    """
    body = render_rows(rows, columns).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_size == 0:
            header = render_rows([dict(zip(columns, columns, strict=True))], columns)
            body = header.encode("utf-8") + body
        written = os.write(fd, body)
        if written != len(body):
            # A short write leaves a partial line; cut it off so the file still parses.
            os.ftruncate(fd, os.fstat(fd).st_size - written)
            raise OSError("short write to the audit file")
    finally:
        os.close(fd)


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
