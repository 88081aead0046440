"""Audit search: filter the prediction history, page through it, export it, open a request.

The day files are streamed newest first and the scan stops as soon as the page is full, so a
first page costs one or two day files whatever the history's size; a cheap substring test
skips lines that cannot match before they are parsed. Export streams one day file at a time.
"""

import csv
import json
from dataclasses import dataclass, fields
from datetime import date

from webapp.audit import AUDIT_COLUMNS, CHANNELS, neutralise_formula, render_rows
from webapp.monitoring_stats import AUDIT_FILE, day_files

VERDICTS = ("anomaly", "normal")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
EXACT_FIELDS = ("principal", "channel", "asset", "model_version", "batch_id", "request_id")


class FilterError(ValueError):
    """A filter value cannot be used; the message says what to write instead.

    `code` and `params` let a page say it in the reader's language.
    """

    def __init__(self, message, code, **params):
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass
class HistoryFilter:
    """What the auditor asks for; empty fields do not filter."""

    date_from: str = ""
    date_to: str = ""
    principal: str = ""
    channel: str = ""
    asset: str = ""
    model_version: str = ""
    verdict: str = ""
    batch_id: str = ""
    request_id: str = ""

    @classmethod
    def from_mapping(cls, values):
        """Build from request arguments (extra keys ignored), trimmed, then checked."""
        found = cls(**{f.name: (values.get(f.name) or "").strip() for f in fields(cls)})
        found.check()
        return found

    def check(self):
        """Raise FilterError for a date, channel or verdict that cannot match anything."""
        for name in ("date_from", "date_to"):
            value = getattr(self, name)
            if value:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise FilterError(f"{name}: write the date as YYYY-MM-DD "
                                      "(for example 2026-03-31)", "bad_date", field=name) from None
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise FilterError("date_to is before date_from", "dates_reversed")
        if self.channel and self.channel not in CHANNELS:
            raise FilterError(f"channel: choose one of {', '.join(CHANNELS)}", "bad_channel",
                              choices=", ".join(CHANNELS))
        if self.verdict and self.verdict not in VERDICTS:
            raise FilterError(f"verdict: choose one of {', '.join(VERDICTS)}", "bad_verdict",
                              choices=", ".join(VERDICTS))

    def as_args(self):
        """The non-empty filters, for links that keep them."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def days(self, available):
        """The available days inside the date range."""
        return [d for d in available if (not self.date_from or d >= self.date_from)
                and (not self.date_to or d <= self.date_to)]

    def needles(self):
        """Byte strings every matching line must contain."""
        return [neutralise_formula(getattr(self, name)).encode("utf-8")
                for name in EXACT_FIELDS if getattr(self, name)]

    def matches(self, row):
        """True when the parsed audit row satisfies every filter."""
        for name in EXACT_FIELDS:
            wanted = getattr(self, name)
            if wanted and row.get(name) != neutralise_formula(wanted):
                return False
        if self.verdict:
            return (row.get("anomaly") == "1") == (self.verdict == "anomaly")
        return True


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


def iter_rows(audit_dir, wanted, newest_first=True):
    """Matching audit rows, one day file in memory at a time, parsed lazily."""
    files = day_files(audit_dir, AUDIT_FILE)
    needles = wanted.needles()
    for day in sorted(wanted.days(files), reverse=newest_first):
        columns, lines = day_lines(read_bytes(files[day]), needles)
        ordered = reversed(lines) if newest_first else lines
        for cells in csv.reader(line.decode("utf-8") for line in ordered):
            row = dict(zip(columns, cells, strict=False))
            if wanted.matches(row):
                yield row


def search(audit_dir, wanted, page=1, page_size=PAGE_SIZE):
    """(rows of the page, whether an older page exists), newest first."""
    skip = (max(page, 1) - 1) * page_size
    rows = []
    for position, row in enumerate(iter_rows(audit_dir, wanted)):
        if position < skip:
            continue
        if len(rows) == page_size:
            return rows, True
        rows.append(row)
    return rows, False


def export_csv(audit_dir, wanted):
    """The matching rows as CSV text chunks (header first), oldest first, formula-safe."""
    yield render_rows([dict(zip(AUDIT_COLUMNS, AUDIT_COLUMNS, strict=True))])
    batch = []
    for row in iter_rows(audit_dir, wanted, newest_first=False):
        batch.append(row)
        if len(batch) == 1000:
            yield render_rows(batch)
            batch = []
    if batch:
        yield render_rows(batch)


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


def request_rows(audit_dir, request_id, day=None):
    """Every audit row of one request, in scoring order, numbered from 1 ([] if unknown).

    All rows of a request carry one timestamp, hence one day file: the search stops at the
    first file (newest first) that holds the id; `day` narrows it to one file when known.
    """
    files = day_files(audit_dir, AUDIT_FILE)
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


def export_filename(wanted):
    """A file name that says what was exported."""
    parts = ["vigie-history"] + [value for value in wanted.as_args().values()][:4]
    safe = "-".join(parts)
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in safe)[:120] + ".csv"

