"""Day summaries of the rejections, from the day files or the shared `rejections` table.

The same summariser (summaries.summarise_rejections) reads either. A day file's summary is
cached on disk with the bytes it covers (daycache); a day of the shared table (several hosts)
is read as the CSV text the file store would hold, and kept in this process's memory once the
day is over, since it cannot change any more; today's is built again at each look.
"""

import os
from datetime import datetime, timezone

from webapp.services.monitoring.database_days import SETTLING
from webapp.services.monitoring.daycache import MEMORY_DAYS
from webapp.services.monitoring.summaries import merge_rejections, summarise_rejections
from webapp.services.record_log import stored_csv
from webapp.services.rejections import REJECTION_COLUMNS, rejection_log


class RejectionDays:
    """{day: rejection summary} of a record_log.Logs, through `cache` for the day files."""

    def __init__(self, logs, cache):
        self.log = rejection_log(logs)
        self.shared = logs.shared
        self.cache = cache
        self.memory = {}

    def summary(self, day, now=None):
        """The rejection summary of `day` ({} when nothing was rejected that day)."""
        if not self.shared:
            path = self.log.path(day)
            if not os.path.exists(path):
                return {}
            return self.cache.summary("rejections", path, summarise_rejections,
                                      merge_rejections)["summary"]
        if day in self.memory:
            return self.memory[day]
        rows = self.log.rows(date_from=day, date_to=day)
        summary = {}
        if rows:
            header, _, data = stored_csv(REJECTION_COLUMNS, rows).partition("\n")
            summary = summarise_rejections(header.split(","), data.encode("utf-8"), {})
        now = now or datetime.now(timezone.utc)
        if day < (now - SETTLING).date().isoformat():
            self.memory[day] = summary
            while len(self.memory) > MEMORY_DAYS:
                self.memory.pop(next(iter(self.memory)))
        return summary
