"""Day summaries of the audit table (several hosts share it), for the monitoring report.

The same summariser as the day files (summaries.summarise_audit) reads the rows of one UTC day,
in chunks, as the CSV text the file store would hold. A day that is over cannot change (a row's
timestamp is the time it was written), so its summary is stored once in the `monitoring_days`
table by whichever worker of whichever instance first needs it (INSERT ... ON CONFLICT DO
NOTHING: two workers racing write one row), and kept in this process's memory. Today's is built
again at each look, because a row committed late may carry a smaller id than one already read.
"""

import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from webapp.services import database
from webapp.services.audit import AUDIT_COLUMNS
from webapp.services.audit_db import stored_lines
from webapp.services.monitoring.daycache import CACHE_FORMAT, MEMORY_DAYS
from webapp.services.monitoring.summaries import merge_audit, summarise_audit
from webapp.services.storage import utc_now_iso

CHUNK_ROWS = 50_000
# Writes take well under this long between their timestamp and their commit.
SETTLING = timedelta(minutes=5)
# The summary's shape: a stored row of another shape is computed again (and not replaced).
KIND = f"audit-v{CACHE_FORMAT}"

monitoring_days = sa.Table(
    "monitoring_days", sa.MetaData(),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("day", sa.Text, primary_key=True),
    sa.Column("summary", sa.Text),
    sa.Column("computed_at", sa.Text))


class DatabaseDaySummaries:
    """{day: audit summary} from a DatabaseAuditSink, closed days computed once for all."""

    def __init__(self, store):
        self.store = store
        self.memory = {}

    def summary(self, day, now=None):
        """The audit summary of `day` ({} when it has no row)."""
        if day in self.memory:
            return self.memory[day]
        now = now or datetime.now(timezone.utc)
        closed = day < (now - SETTLING).date().isoformat()
        summary = self._stored(day) if closed else None
        if summary is None:
            summary = self._computed(day)
            if closed:
                self._store(day, summary)
        if closed:
            self.memory[day] = summary
            while len(self.memory) > MEMORY_DAYS:
                self.memory.pop(next(iter(self.memory)))
        return summary

    def _computed(self, day):
        summary = {}
        for chunk in self.store.day_chunks(day, CHUNK_ROWS):
            data = stored_lines(chunk).encode("utf-8")
            merge_audit(summary, summarise_audit(list(AUDIT_COLUMNS), data, summary))
        return summary

    def _stored(self, day):
        query = sa.select(monitoring_days.c.summary).where(monitoring_days.c.kind == KIND,
                                                           monitoring_days.c.day == day)
        with database.engine(self.store.target).connect() as connection:
            found = connection.execute(query).scalar()
        return None if found is None else json.loads(found)

    def _store(self, day, summary):
        statement = insert(monitoring_days).values(
            kind=KIND, day=day, summary=json.dumps(summary, separators=(",", ":")),
            computed_at=utc_now_iso()).on_conflict_do_nothing()
        with database.engine(self.store.target).begin() as connection:
            connection.execute(statement)
