"""The audit trail: the only code that names, writes and reads logs/audit/predictions-*.csv.

One CSV row per prediction, appended safely by many processes at once (storage.append_csv).
Every other module asks its questions through the query functions below (a request, a batch,
a stream, an asset's recent rows, a filtered search), so the file format has one owner.
"""

import collections
import csv
import json
import logging
import os
import re
from datetime import datetime, time, timedelta, timezone

import pandas as pd

from webapp.services.audit_chain import CHAIN_COLUMN, read_record, verify_files
from webapp.services.audit_index import (append_index, block_index_entry, day_of_request,
                                         index_entries, requests_of_day)
from webapp.services.audit_records import (parse_records, records_holding,
                                           records_newest_first, split_header)
from webapp.services.storage import append_csv, neutralise_formula, render_rows, utc_now_iso
from webapp.services.storage import day_files as storage_day_files

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
AUDIT_FILE = re.compile(r"^predictions-(\d{4}-\d{2}-\d{2})\.csv$")
VERIFICATION_FILE = "audit_verification.json"
log = logging.getLogger("vigie.audit")


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

    def __init__(self, directory, after_write=None):
        self.directory = directory
        # Called with the days written to, once the rows are safely appended: monitoring
        # keeps its hourly summaries current with it. Its failure never fails an audit write.
        self.after_write = after_write

    def path_for(self, day):
        """The audit file of a UTC day ('YYYY-MM-DD')."""
        return day_path(self.directory, day)

    def write(self, rows):
        """Append rows; a batch for one day is one write under one lock."""
        by_day, now = {}, utc_now_iso()
        for row in rows:
            row.setdefault("timestamp_utc", now)
            by_day.setdefault(row["timestamp_utc"][:10], []).append(row)
        for day, day_rows in by_day.items():
            self._append(day, day_rows)
        for day, day_rows in by_day.items():
            self._index(day, index_entries(day_rows))
        self._summarise(sorted(by_day))

    def write_block(self, block):
        """Append an AuditBlock (rows carried as columns, one timestamp) with one write."""
        span = self._append(block.day, block)
        self._index(block.day, [block_index_entry(block)])
        # A summariser that can take the rows from their columns is spared reading them back
        # (monitoring/refresher.py).
        self._summarise([block.day], add_block=(block.day, span, block))

    def _append(self, day, rows):
        """The one locked append of audit rows (dicts or a block) to a day file; its span."""
        try:
            os.makedirs(self.directory, exist_ok=True)
            return append_csv(self.path_for(day), rows, AUDIT_COLUMNS)
        except OSError as exc:
            raise AuditError(f"the audit log could not be written ({exc.strerror or exc})") from exc

    def _index(self, day, entries):
        """Add request index entries for rows just appended; a failure is only logged."""
        try:
            append_index(self.directory, day, [], entries=entries)
        except OSError:  # the rows are audited; the index only makes finding them quicker
            log.exception("the request index was not updated")

    def _summarise(self, days, add_block=None):
        """Tell monitoring which days grew; a failure never fails an audit write."""
        if self.after_write is None:
            return
        try:
            if add_block is not None and hasattr(self.after_write, "add_block"):
                self.after_write.add_block(*add_block)
            self.after_write(days)
        except Exception:  # a summary is only a speed-up; the rows are written
            log.exception("audit summaries not updated after a write")


def write_block(sink, block):
    """Write an AuditBlock through any sink: as a block when it takes them, else as dicts."""
    if not block.count:
        return
    if hasattr(sink, "write_block"):
        sink.write_block(block)
    else:
        sink.write(block.rows())


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


def day_records(content, needles=(), newest_first=False):
    """(column names, records) of one audit day file's content, each record a list of cells.

    The file is read as CSV records (services/audit_records.py), never split on line feeds:
    a quoted line feed in a cell can never pass for a row. With `needles`, only the records
    that hold all of them, found by a bytes search before anything is parsed.
    """
    columns, body = split_header(content)
    if needles:
        return columns, records_holding(body, needles, newest_first)
    return columns, records_newest_first(body) if newest_first else parse_records(body)


# --- queries ------------------------------------------------------------------------------------
# `directory` is the audit folder, or a database store (services/audit_db.py, several hosts),
# which answers the same question with a query.

def _database_store(source):
    return None if isinstance(source, (str, os.PathLike)) else source


def search_rows(directory, *, date_from="", date_to="", exact=None, keep=None, newest_first=True):
    """Audit rows whose `exact` fields equal the given text and that `keep(row)` accepts,
    inside [date_from, date_to] (days, either may be empty), newest first by default.

    One day file in memory at a time, parsed lazily: a reader that stops early (one page of
    the history) reads one or two files whatever the trail's size. A cheap substring test
    skips records that cannot match before they are parsed.
    """
    if (store := _database_store(directory)) is not None:
        yield from store.search_rows(date_from=date_from, date_to=date_to, exact=exact,
                                     keep=keep, newest_first=newest_first)
        return
    exact = {name: neutralise_formula(value) for name, value in (exact or {}).items() if value}
    needles = [value.encode("utf-8") for value in exact.values()]
    files = day_files(directory)
    days = [d for d in files if (not date_from or d >= date_from) and (not date_to or d <= date_to)]
    for day in sorted(days, reverse=newest_first):
        columns, records = day_records(read_bytes(files[day]), needles, newest_first)
        for cells in records:
            row = dict(zip(columns, cells, strict=False))
            if all(row.get(name) == value for name, value in exact.items()) \
                    and (keep is None or keep(row)):
                yield row


def search_requests(directory, *, date_from="", date_to="", exact=None, verdict=""):
    """One summary per request or batch (when, channel, who, asset, version, readings,
    anomalies), newest first, from the request index; `exact` fields must equal the given text
    and `verdict` is 'anomaly' (some reading flagged) or 'normal' (none)."""
    if (store := _database_store(directory)) is not None:
        yield from store.search_requests(date_from=date_from, date_to=date_to, exact=exact,
                                         verdict=verdict)
        return
    exact = {name: neutralise_formula(value) for name, value in (exact or {}).items() if value}
    files = day_files(directory)
    days = [d for d in files if (not date_from or d >= date_from) and (not date_to or d <= date_to)]
    needles = [value.encode("utf-8") for value in exact.values()]
    for day in sorted(days, reverse=True):
        for entry in requests_of_day(directory, day, files[day], needles):
            if any(entry.get(name) != value for name, value in exact.items()):
                continue
            if verdict and (entry["anomalies"] > 0) != (verdict == "anomaly"):
                continue
            yield {**entry, "day": day}


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

    All rows of a request carry one timestamp, hence one day file: the request index names
    it (else the search stops at the first file, newest first, that holds the id); `day`
    narrows it to one file when known.
    """
    if (store := _database_store(directory)) is not None:
        return store.request_rows(request_id, day)
    files = day_files(directory)
    needle = neutralise_formula(request_id).encode("utf-8")
    if day in files:
        candidates = [day]
    else:  # the request index names the day; without it, every day newest first
        newest_first = sorted(files, reverse=True)
        found = day_of_request(directory, needle.decode("utf-8"), newest_first)
        candidates = ([found] if found else []) + [d for d in newest_first if d != found]
    for current in candidates:
        content = read_bytes(files[current])
        if needle not in content:
            continue
        columns, records = day_records(content, [needle])
        rows = [dict(zip(columns, cells, strict=False)) for cells in records]
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
    """Audit rows of stream `stream_id` in the day files from `since_day` on, in file order.

    Read as whole CSV records: a quoted line feed in some other row's cell can never pass for
    a row of this stream (and move its checkpoint).
    """
    rows = []
    for day, path in sorted(day_files(directory).items()):
        if day < since_day:
            continue
        header, body = split_header(read_bytes(path))
        # Cheap bytes search first: the day file holds every channel's rows.
        for cells in records_holding(body, [stream_id.encode("utf-8")]):
            row = dict(zip(header, cells, strict=False))
            if row.get("channel") == "stream" and row.get("batch_id") == stream_id:
                rows.append(row)
    return rows


def asset_rows_since(directory, asset, since, until, limit):
    """The asset's audit rows from `since` (a UTC datetime) to the day of `until`, oldest
    first; only the newest `limit` are kept, so a month of audit never has to fit in memory."""
    if (store := _database_store(directory)) is not None:
        return store.asset_rows_since(asset, since, until, limit)
    day_after = datetime.combine(until.date() + timedelta(days=1), time(), timezone.utc)
    return list(collections.deque(iter_asset_rows(directory, asset, since, day_after),
                                  maxlen=limit))


def iter_asset_rows(directory, asset, since, until):
    """The asset's audit rows with `since` <= timestamp < `until` (UTC datetimes), oldest
    first, one at a time: a reader that folds them (the trend view) holds none of them."""
    if (store := _database_store(directory)) is not None:
        yield from store.iter_asset_rows(asset, since, until)
        return
    cutoff, end = _stamp(since), _stamp(until)
    files = day_files(directory)
    for day in sorted(files):
        if since.date().isoformat() <= day <= until.date().isoformat():
            with open(files[day], encoding="utf-8", newline="") as handle:
                reader = csv.reader(handle)
                header = next(reader, [])
                if "asset" not in header or "timestamp_utc" not in header:
                    continue  # an empty file (created, not yet written)
                where, when = header.index("asset"), header.index("timestamp_utc")
                for cells in reader:  # a dict only for the rows kept: most are other assets'
                    if len(cells) > where and cells[where] == asset and cutoff <= cells[when] < end:
                        yield dict(zip(header, cells, strict=False))


def _stamp(moment):
    """A UTC datetime written as the audit writes its timestamps."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- tamper evidence ----------------------------------------------------------------------------

def verification_path(log_dir):
    """logs/audit_verification.json: the result of the last `audit verify`."""
    return os.path.join(log_dir, VERIFICATION_FILE)


def verify_audit(directory, log_dir, day=None):
    """Verify the hash chain of every audit day file (or of `day`); returns their reports."""
    files = day_files(directory)
    paths = [files[day]] if day in files else [] if day else list(files.values())
    return verify_files(paths, verification_path(log_dir), utc_now_iso(), AUDIT_COLUMNS)


def last_verification(log_dir):
    """What the last `audit verify` found ({} when it never ran)."""
    return read_record(verification_path(log_dir))
