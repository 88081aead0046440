"""The audit trail: the only code that names, writes and reads logs/audit/predictions-*.csv.

One CSV row per prediction, appended safely by many processes at once (storage.append_csv).
Every other module asks its questions through the query functions below (a request, a batch,
a stream, an asset's recent rows, a filtered search), so the file format has one owner.
"""

import collections
import csv
import json
import os
import re

import pandas as pd

from webapp.services.storage import append_csv, neutralise_formula, render_rows, utc_now_iso
from webapp.services.storage import day_files as storage_day_files

AUDIT_COLUMNS = (
    "timestamp_utc", "request_id", "channel", "principal", "asset", "model_version",
    "model_sha256", "inputs", "reading_timestamp", "batch_id", "score", "threshold",
    "anomaly", "top_sensors", "latency_ms", "app_version",
    "shadow_version", "shadow_score", "shadow_anomaly",
)
CHANNELS = ("form", "batch", "api", "stream", "cli")
AUDIT_FILE = re.compile(r"^predictions-(\d{4}-\d{2}-\d{2})\.csv$")


class AuditError(Exception):
    """The audit trail could not be written: the prediction must not be claimed."""


def day_path(directory, day):
    """The audit file of a UTC day ('YYYY-MM-DD')."""
    return os.path.join(directory, f"predictions-{day}.csv")


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
        return day_path(self.directory, day)

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


def render_audit_rows(rows):
    """Audit rows as CSV lines in the audit's column order, formula-safe (for exports)."""
    return render_rows(rows, AUDIT_COLUMNS)


def audit_header():
    """The header line of an audit export."""
    return render_audit_rows([dict(zip(AUDIT_COLUMNS, AUDIT_COLUMNS, strict=True))])


# --- reading: the day files -------------------------------------------------------------------

def day_files(directory):
    """{day: path} of the audit day files in `directory` ({} when there is none)."""
    return storage_day_files(directory, AUDIT_FILE)


def read_bytes(path):
    """The whole content of one day file."""
    with open(path, "rb") as handle:
        return handle.read()


def day_lines(content, needles=()):
    """(column names, data lines) of one audit day file's content; with `needles`, only the
    lines that contain all of them, found by a bytes search rather than line by line."""
    header, _, body = content.partition(b"\n")
    columns = next(csv.reader([header.decode("utf-8-sig").strip()]))
    if not needles:
        return columns, [line for line in body.split(b"\n") if line]
    return columns, lines_containing(body, needles)


def lines_containing(body, needles):
    """The lines of `body` holding every needle, located from the longest needle's hits."""
    longest = max(needles, key=len)
    found, position = [], 0
    while (hit := body.find(longest, position)) >= 0:
        start = body.rfind(b"\n", 0, hit) + 1
        end = body.find(b"\n", hit)
        end = len(body) if end < 0 else end
        line = body[start:end]
        if all(needle in line for needle in needles):
            found.append(line)
        position = end + 1
    return found


def parse_line(columns, line):
    """One audit line as a dict of text."""
    return dict(zip(columns, next(csv.reader([line.decode("utf-8")])), strict=False))


# --- queries ------------------------------------------------------------------------------------

def search_rows(directory, *, date_from="", date_to="", exact=None, keep=None, newest_first=True):
    """Audit rows whose `exact` fields equal the given text and that `keep(row)` accepts,
    inside [date_from, date_to] (days, either may be empty), newest first by default.

    One day file in memory at a time, parsed lazily: a reader that stops early (one page of
    the history) reads one or two files whatever the trail's size. A cheap substring test
    skips lines that cannot match before they are parsed.
    """
    exact = {name: neutralise_formula(value) for name, value in (exact or {}).items() if value}
    needles = [value.encode("utf-8") for value in exact.values()]
    files = day_files(directory)
    days = [d for d in files if (not date_from or d >= date_from) and (not date_to or d <= date_to)]
    for day in sorted(days, reverse=newest_first):
        columns, lines = day_lines(read_bytes(files[day]), needles)
        ordered = reversed(lines) if newest_first else lines
        for cells in csv.reader(line.decode("utf-8") for line in ordered):
            row = dict(zip(columns, cells, strict=False))
            if all(row.get(name) == value for name, value in exact.items()) \
                    and (keep is None or keep(row)):
                yield row


def decode_record(row, reading):
    """An audit row with its inputs and top sensors decoded, numbered within its request."""
    record = dict(row)
    try:
        record["inputs"] = json.loads(row.get("inputs") or "{}")
    except ValueError:
        record["inputs"] = {}
    record["top_sensors"] = [s for s in (row.get("top_sensors") or "").split(";") if s]
    record["reading"] = reading
    return record


def request_rows(directory, request_id, day=None):
    """Every audit row of one request, in scoring order, decoded and numbered from 1 ([] if
    unknown).

    All rows of a request carry one timestamp, hence one day file: the search stops at the
    first file (newest first) that holds the id; `day` narrows it to one file when known.
    """
    files = day_files(directory)
    needle = neutralise_formula(request_id).encode("utf-8")
    for current in ([day] if day in files else sorted(files, reverse=True)):
        content = read_bytes(files[current])
        if needle not in content:
            continue
        columns, lines = day_lines(content, [needle])
        rows = [parse_line(columns, line) for line in lines]
        rows = [row for row in rows if row.get("request_id") == needle.decode("utf-8")]
        if rows:
            return [decode_record(row, n) for n, row in enumerate(rows, start=1)]
    return []


def count_batch_rows(directory, batch_id, since_day):
    """Audit rows already written for `batch_id` in the day files from `since_day` on.

    The audit file is the truth about what was audited: a run interrupted between two chunks
    resumes from this count, so no reading is audited twice.
    """
    total = 0
    for day, path in sorted(day_files(directory).items()):
        if day < since_day:
            continue
        column = pd.read_csv(path, usecols=["batch_id"], dtype=str,
                             keep_default_na=False, on_bad_lines="skip")["batch_id"]
        total += int((column == batch_id).sum())
    return total


def stream_rows(directory, stream_id, since_day):
    """Audit rows of stream `stream_id` in the day files from `since_day` on, in file order."""
    rows = []
    for day, path in sorted(day_files(directory).items()):
        if day < since_day:
            continue
        with open(path, encoding="utf-8", newline="") as handle:
            header = next(csv.reader([handle.readline()]), [])
            # Cheap substring test first: the day file holds every channel's rows.
            for raw in handle:
                if stream_id not in raw:
                    continue
                row = dict(zip(header, next(csv.reader([raw])), strict=False))
                if row.get("channel") == "stream" and row.get("batch_id") == stream_id:
                    rows.append(row)
    return rows


def asset_rows_since(directory, asset, since, until, limit):
    """The asset's audit rows from `since` (a UTC datetime) to the day of `until`, oldest
    first; only the newest `limit` are kept, so a month of audit never has to fit in memory."""
    cutoff = since.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    rows = collections.deque(maxlen=limit)
    files = day_files(directory)
    for day in sorted(files):
        if since.date().isoformat() <= day <= until.date().isoformat():
            with open(files[day], encoding="utf-8", newline="") as handle:
                rows.extend(row for row in csv.DictReader(handle)
                            if row.get("asset") == asset and row.get("timestamp_utc", "") >= cutoff)
    return list(rows)
