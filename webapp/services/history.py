"""Audit search: filter the prediction history, page through it, export it, open a request.

The audit search (services/audit.py) streams the day files newest first and the scan stops as
soon as the page is full, so a first page costs one or two day files whatever the history's
size. Export streams one day file at a time.
"""

import itertools
from dataclasses import dataclass, fields
from datetime import date

from webapp.services import audit
from webapp.services.audit import CHANNELS
from webapp.services.text import find_unsafe

VERDICTS = ("anomaly", "normal")
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
EXACT_FIELDS = ("principal", "channel", "asset", "model_version", "batch_id", "request_id",
                "client_request_id")


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
    client_request_id: str = ""

    @classmethod
    def from_mapping(cls, values):
        """Build from request arguments (extra keys ignored), trimmed, then checked."""
        found = cls(**{f.name: (values.get(f.name) or "").strip() for f in fields(cls)})
        found.check()
        return found

    def check(self):
        """Raise FilterError for a date, channel or verdict that cannot match anything."""
        for item in fields(self):
            unsafe = find_unsafe(getattr(self, item.name))
            if unsafe:
                raise FilterError(f"{item.name}: remove the control character ({unsafe[1]})",
                                  "control_character", field=item.name)
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

    def keeps(self, row):
        """True when the audit row has the verdict asked for (the exact fields are matched by
        the audit search itself)."""
        if self.verdict:
            return (row.get("anomaly") == "1") == (self.verdict == "anomaly")
        return True


def iter_rows(audit_dir, wanted, newest_first=True):
    """Matching audit rows, one day file in memory at a time, parsed lazily."""
    return audit.search_rows(audit_dir, date_from=wanted.date_from, date_to=wanted.date_to,
                             exact={name: getattr(wanted, name) for name in EXACT_FIELDS},
                             keep=wanted.keeps, newest_first=newest_first)


def page_of(items, page, page_size):
    """(the items of `page`, whether a later page exists), reading `items` no further."""
    skip = (max(page, 1) - 1) * page_size
    chosen = list(itertools.islice(items, skip, skip + page_size + 1))
    return chosen[:page_size], len(chosen) > page_size


def search(audit_dir, wanted, page=1, page_size=PAGE_SIZE):
    """(rows of the page, whether an older page exists), newest first."""
    return page_of(iter_rows(audit_dir, wanted), page, page_size)


def search_requests(audit_dir, wanted, page=1, page_size=PAGE_SIZE):
    """(requests of the page, whether an older page exists): one line per request or batch."""
    found = audit.search_requests(
        audit_dir, date_from=wanted.date_from, date_to=wanted.date_to,
        exact={name: getattr(wanted, name) for name in EXACT_FIELDS}, verdict=wanted.verdict)
    return page_of(found, page, page_size)


def export_csv(audit_dir, wanted):
    """The matching rows as CSV text chunks (header first), oldest first, formula-safe."""
    yield audit.audit_header()
    batch = []
    for row in iter_rows(audit_dir, wanted, newest_first=False):
        batch.append(row)
        if len(batch) == 1000:
            yield audit.render_audit_rows(batch)
            batch = []
    if batch:
        yield audit.render_audit_rows(batch)


def request_rows(audit_dir, request_id):
    """Every audit row of one request, decoded and numbered from 1 ([] if unknown)."""
    return audit.request_rows(audit_dir, request_id)


def export_filename(wanted):
    """A file name that says what was exported."""
    parts = ["vigie-history"] + [value for value in wanted.as_args().values()][:4]
    safe = "-".join(parts)
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in safe)[:120] + ".csv"
