"""Day summaries of the audit table: closed days computed once for every worker and instance."""

from datetime import datetime, timezone

import numpy as np
import pytest
import sqlalchemy as sa

from tests.conftest import NORMAL_CSV
from tests.support.monitoring_fixtures import normal_pool, synthetic_rows
from tests.support.postgres import fresh_database_url
from webapp.services import database
from webapp.services.audit_db import DatabaseAuditSink
from webapp.services.monitoring.database_days import DatabaseDaySummaries, monitoring_days

DAYS = ("2026-03-01", "2026-03-02", "2026-03-03")
NOW = datetime(2026, 3, 3, 12, tzinfo=timezone.utc)  # the last day is today


class CountingStore:
    """The audit table, noting which days are read in full."""

    def __init__(self, sink):
        self.sink = sink
        self.target = sink.target
        self.read = []

    def day_chunks(self, day, size):
        self.read.append(day)
        return self.sink.day_chunks(day, size)


@pytest.fixture
def sink(request):
    request.param = "postgresql"
    sink = DatabaseAuditSink(fresh_database_url(request))
    pool, rng = normal_pool(NORMAL_CSV), np.random.default_rng(5)
    for day in DAYS:
        sink.write(synthetic_rows(day, 150, pool, 1.0, rng, anomaly_rate=0.2))
    return sink


def stored_days(sink):
    with database.engine(sink.target).connect() as connection:
        return sorted(connection.execute(sa.select(monitoring_days.c.day)).scalars())


def test_a_new_worker_reads_closed_days_from_the_table_and_recomputes_only_today(sink):
    first = CountingStore(sink)
    computed = {day: DatabaseDaySummaries(first).summary(day, NOW) for day in DAYS}
    assert first.read == list(DAYS)
    assert stored_days(sink) == ["2026-03-01", "2026-03-02"]  # today is not stored
    assert sum(sum(parts["readings"].values()) for parts in computed["2026-03-01"].values()) == 150
    another = CountingStore(sink)  # another worker, or another instance: nothing in memory
    again = {day: DatabaseDaySummaries(another).summary(day, NOW) for day in DAYS}
    assert another.read == ["2026-03-03"]
    assert again == computed


def test_two_workers_racing_on_a_closed_day_store_one_row(sink, monkeypatch):
    monkeypatch.setattr(DatabaseDaySummaries, "_stored", lambda self, day: None)
    first = DatabaseDaySummaries(sink).summary("2026-03-01", NOW)
    second = DatabaseDaySummaries(sink).summary("2026-03-01", NOW)  # no error on the conflict
    assert first == second and stored_days(sink) == ["2026-03-01"]


def test_a_day_without_rows_is_an_empty_summary(sink):
    assert DatabaseDaySummaries(sink).summary("2026-02-01", NOW) == {}
    assert DatabaseDaySummaries(CountingStore(sink)).summary("2026-02-01", NOW) == {}
