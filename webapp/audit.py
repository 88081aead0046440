"""The audit trail: one CSV row per prediction, appended safely by many processes at once."""

import csv
import fcntl
import io
import os
from datetime import datetime, timezone

AUDIT_COLUMNS = (
    "timestamp_utc", "request_id", "channel", "principal", "asset", "model_version",
    "model_sha256", "inputs", "reading_timestamp", "batch_id", "score", "threshold",
    "anomaly", "top_sensors", "latency_ms", "app_version",
    "shadow_version", "shadow_score", "shadow_anomaly",
)
CHANNELS = ("form", "batch", "api", "stream", "cli")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMULA_FIRST = frozenset(FORMULA_PREFIXES)


class AuditError(Exception):
    """The audit trail could not be written: the prediction must not be claimed."""


def utc_now_iso():
    """Current UTC time, ISO 8601 with milliseconds and a Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def neutralise_formula(text):
    """Prefix what a spreadsheet would run as a formula, so that it stays text.

    A French spreadsheet splits a line on ';' as well, so `a;=1+1;b` holds a formula in its
    middle part: every ';'-separated part is checked.
    """
    if not isinstance(text, str):
        return text
    if ";" in text:
        return ";".join(_neutralise_part(part) for part in text.split(";"))
    return _neutralise_part(text)


def _neutralise_part(text):
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


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


class AuditSink:
    """The audit interface: callers only ever call write(rows)."""

    def write(self, rows):
        raise NotImplementedError


class CsvAuditSink(AuditSink):
    """Audit rows in logs/audit/predictions-YYYY-MM-DD.csv (UTC date of each row)."""

    def __init__(self, directory):
        self.directory = directory

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
