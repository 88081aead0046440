"""The audit trail: one CSV row per prediction, appended safely by many processes at once."""

import csv
import fcntl
import io
import logging
import os
import re
from datetime import datetime, timezone

from webapp.services.audit_chain import (CHAIN_COLUMN, chain_lines, last_hash, read_head,
                                         read_record, split_lines, verify_files)

# Today's columns keep their order; new ones go at the end, the chain hash always last
# (docs/audit.md says what each holds).
AUDIT_COLUMNS = (
    "timestamp_utc", "request_id", "channel", "principal", "asset", "model_version",
    "model_sha256", "inputs", "reading_timestamp", "batch_id", "score", "threshold",
    "anomaly", "top_sensors", "latency_ms", "app_version",
    "shadow_version", "shadow_score", "shadow_anomaly",
    "client_request_id", CHAIN_COLUMN,
)
CHANNELS = ("form", "batch", "api", "stream", "cli")
log = logging.getLogger("vigie.audit")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMULA_FIRST = frozenset(FORMULA_PREFIXES)


class AuditError(Exception):
    """The audit trail could not be written: the prediction must not be claimed."""


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


def render_rows(rows, columns=AUDIT_COLUMNS):
    """Complete CSV lines for `rows` (dicts), as one string."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def append_csv(path, rows, columns):
    """Append complete lines with one write() under an exclusive lock; header if new.

    O_APPEND plus flock means lines from several workers never interleave, and the header
    is written exactly once even when two processes create the file together. When the
    columns end with the chain column, each row's hash is computed under the same lock from
    the hash at the end of the file. A file begun with older columns keeps them to its end.
    """
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:
            header, header_size = read_head(fd)
            written_columns = _columns_of(header, columns)
            body = _render_body(rows, written_columns, fd, size, header_size)
        else:
            body = render_rows([dict(zip(columns, columns, strict=True))], columns) + \
                _render_body(rows, columns)
        data = body.encode("utf-8")
        written = os.write(fd, data)
        if written != len(data):
            # A short write leaves a partial line; cut it off so the file still parses.
            os.ftruncate(fd, os.fstat(fd).st_size - written)
            raise OSError("short write to the audit file")
    finally:
        os.close(fd)


def _columns_of(header, columns):
    """The columns of an existing file: `columns`, or the older list its header names."""
    if header == ",".join(columns):
        return columns
    named = next(csv.reader([header]), [])
    return tuple(name for name in named if name in columns) or columns


def _render_body(rows, columns, fd=None, size=0, header_size=0):
    """The rows' lines, each ending with its chain hash when the file is chained."""
    if columns[-1] != CHAIN_COLUMN:
        return render_rows(rows, columns)
    cells = columns[:-1]
    body = render_rows(rows, cells)
    lines = split_lines(body, len(rows), lambda i: [_cell(rows[i].get(c)) for c in cells])
    previous = last_hash(fd, size, header_size) if size else ""
    return chain_lines(previous, lines)[0]


class AuditSink:
    """The audit interface: callers only ever call write(rows)."""

    def write(self, rows):
        raise NotImplementedError


class CsvAuditSink(AuditSink):
    """Audit rows in logs/audit/predictions-YYYY-MM-DD.csv (UTC date of each row)."""

    def __init__(self, directory, after_write=None):
        self.directory = directory
        # Called with the days written to, once the rows are safely appended: monitoring
        # keeps its hourly summaries current with it. Its failure never fails an audit write.
        self.after_write = after_write

    def path_for(self, day):
        """The audit file of a UTC day ('YYYY-MM-DD')."""
        return os.path.join(self.directory, f"predictions-{day}.csv")

    def write(self, rows):
        """Append rows; a batch for one day is one write under one lock."""
        by_day = {}
        for row in rows:
            row.setdefault("timestamp_utc", utc_now_iso())
            by_day.setdefault(row["timestamp_utc"][:10], []).append(row)
        try:
            os.makedirs(self.directory, exist_ok=True)
            for day, day_rows in by_day.items():
                append_csv(self.path_for(day), day_rows, AUDIT_COLUMNS)
        except OSError as exc:
            raise AuditError(f"the audit log could not be written ({exc.strerror or exc})") from exc
        if self.after_write is not None:
            try:
                self.after_write(sorted(by_day))
            except Exception:  # a summary is only a speed-up; the rows are written
                log.exception("audit summaries not updated after a write")


AUDIT_FILE_PATTERN = re.compile(r"^predictions-(\d{4}-\d{2}-\d{2})\.csv$")
VERIFICATION_FILE = "audit_verification.json"


def verification_path(log_dir):
    """logs/audit_verification.json: the result of the last `audit verify`."""
    return os.path.join(log_dir, VERIFICATION_FILE)


def audit_days(audit_dir):
    """{day: path} of the audit day files."""
    try:
        names = os.listdir(audit_dir)
    except FileNotFoundError:
        return {}
    return {match.group(1): os.path.join(audit_dir, name) for name in names
            if (match := AUDIT_FILE_PATTERN.match(name))}


def verify_audit(audit_dir, log_dir, day=None):
    """Verify the hash chain of every audit day file (or of `day`); returns their reports."""
    days = audit_days(audit_dir)
    paths = [days[day]] if day in days else [] if day else list(days.values())
    return verify_files(paths, verification_path(log_dir), utc_now_iso())


def last_verification(log_dir):
    """What the last `audit verify` found ({} when it never ran)."""
    return read_record(verification_path(log_dir))
