"""Day summaries of the audit table (several hosts share it), for the monitoring report.

The same summariser as the day files (summaries.summarise_audit) reads the rows of one UTC day,
in chunks, as the CSV text the file store would hold. A day that is over cannot change (a row's
timestamp is the time it was written), so its summary is kept in this process's memory; today's
is built again at each look, because a row committed late may carry a smaller id than one
already read.
"""

from datetime import datetime, timedelta, timezone

from webapp.services.audit import AUDIT_COLUMNS
from webapp.services.audit_db import stored_lines
from webapp.services.monitoring.daycache import MEMORY_DAYS
from webapp.services.monitoring.summaries import merge_audit, summarise_audit

CHUNK_ROWS = 50_000
# Writes take well under this long between their timestamp and their commit.
SETTLING = timedelta(minutes=5)


class DatabaseDaySummaries:
    """{day: audit summary} from a DatabaseAuditSink, closed days computed once."""

    def __init__(self, store):
        self.store = store
        self.memory = {}

    def summary(self, day, now=None):
        """The audit summary of `day` ({} when it has no row)."""
        if day in self.memory:
            return self.memory[day]
        summary = {}
        for chunk in self.store.day_chunks(day, CHUNK_ROWS):
            data = stored_lines(chunk).encode("utf-8")
            merge_audit(summary, summarise_audit(list(AUDIT_COLUMNS), data, summary))
        now = now or datetime.now(timezone.utc)
        if day < (now - SETTLING).date().isoformat():
            self.memory[day] = summary
            while len(self.memory) > MEMORY_DAYS:
                self.memory.pop(next(iter(self.memory)))
        return summary
