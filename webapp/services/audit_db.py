"""The audit rows in PostgreSQL: the CSV file's columns and cells, append-only, one transaction.

Selected when VIGIE_DATABASE_URL points at PostgreSQL, so that every instance of a cluster
writes one shared trail. Cells are stored as the text the CSV file holds (same formula
neutralising, same number rendering), and each UTC day is one hash chain computed exactly as
the file store computes it (services/audit_chain.py), under a per-day lock: an exported day is
the file the CSV store writes, and `audit verify` checks it the same way.
"""

import csv
import io
import os
from datetime import date, timedelta

import sqlalchemy as sa

from webapp.services import database
from webapp.services.audit import (AUDIT_COLUMNS, AuditError, AuditSink, audit_header,
                                   decode_record)
from webapp.services.audit_chain import CHAIN_COLUMN, row_hash, split_lines
from webapp.services.storage import _cell as cell_text  # the one rendering of a CSV cell
from webapp.services.storage import neutralise_formula, render_rows, utc_now_iso, write_atomic

audit = sa.Table("audit", sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True),
                 *(sa.Column(name, sa.Text) for name in AUDIT_COLUMNS))
COPY_FROM = 200  # rows in one write above which COPY is faster than a multi-row INSERT
HASHED = tuple(name for name in AUDIT_COLUMNS if name != CHAIN_COLUMN)


class DatabaseAuditSink(AuditSink):
    """Audit rows in the `audit` table; a write is all its rows or none (AuditError)."""

    def __init__(self, target):
        self.target = target

    def write(self, rows):
        """Insert `rows` in one transaction, chained per UTC day; AuditError if refused."""
        by_day = {}
        for row in rows:
            row.setdefault("timestamp_utc", utc_now_iso())
            by_day.setdefault(row["timestamp_utc"][:10], []).append(row)
        try:
            with database.engine(self.target).begin() as connection:
                for day, day_rows in sorted(by_day.items()):
                    cells = _chained_cells(connection, day, day_rows)
                    if len(cells) >= COPY_FROM:
                        _copy(connection, cells)
                    else:
                        connection.execute(audit.insert(), cells)
        except sa.exc.SQLAlchemyError as exc:
            reason = getattr(exc, "orig", None) or exc
            raise AuditError(f"the audit could not be written to the database ({reason})") from exc

    def days(self):
        """The UTC days that have rows."""
        day = sa.func.substr(audit.c.timestamp_utc, 1, 10)
        with database.engine(self.target).connect() as connection:
            return sorted(connection.execute(sa.select(day).distinct()).scalars())

    def day_rows(self, day):
        """The cells of every row of a UTC day ('YYYY-MM-DD'), in the order they were written."""
        start, end = day, _next_day(day)
        query = (sa.select(*(audit.c[name] for name in AUDIT_COLUMNS))
                 .where(audit.c.timestamp_utc >= start, audit.c.timestamp_utc < end)
                 .order_by(audit.c.id))
        with database.engine(self.target).connect() as connection:
            for row in connection.execution_options(yield_per=5000).execute(query):
                yield dict(zip(AUDIT_COLUMNS, row, strict=True))

    def batch_rows(self, batch_id, since_day, channel=None):
        """Rows of one batch or stream (its batch_id) from `since_day` on, in write order.

        What a resumed stream follower replays, as read_stream_audit does in the day files.
        """
        query = (sa.select(*(audit.c[name] for name in AUDIT_COLUMNS))
                 .where(audit.c.batch_id == batch_id, audit.c.timestamp_utc >= since_day)
                 .order_by(audit.c.id))
        if channel:
            query = query.where(audit.c.channel == channel)
        with database.engine(self.target).connect() as connection:
            return [dict(zip(AUDIT_COLUMNS, row, strict=True)) for row in
                    connection.execute(query)]

    def search_rows(self, *, date_from="", date_to="", exact=None, keep=None,
                    newest_first=True):
        """audit.search_rows on the table: exact fields and days in SQL, `keep` in Python."""
        query = self._select()
        query = _filtered(query, date_from, date_to, exact)
        query = query.order_by(audit.c.id.desc() if newest_first else audit.c.id)
        # A reader that stops early (one page of the history) fetches one chunk, not the table.
        with database.engine(self.target).connect() as connection:
            for row in connection.execution_options(yield_per=500).execute(query):
                record = dict(zip(AUDIT_COLUMNS, row, strict=True))
                if keep is None or keep(record):
                    yield record

    def search_requests(self, *, date_from="", date_to="", exact=None, verdict=""):
        """audit.search_requests on the table: one summary per request, newest first."""
        day = sa.func.substr(audit.c.timestamp_utc, 1, 10)
        anomalies = sa.func.sum(sa.case((audit.c.anomaly == "1", 1), else_=0))
        fields = ("channel", "principal", "asset", "model_version", "batch_id",
                  "client_request_id")
        query = (sa.select(day.label("day"), audit.c.request_id,
                           sa.func.min(audit.c.timestamp_utc).label("timestamp_utc"),
                           *(sa.func.min(audit.c[name]).label(name) for name in fields),
                           sa.func.count().label("readings"), anomalies.label("anomalies"))
                 .group_by(day, audit.c.request_id)
                 .order_by(day.desc(), sa.func.max(audit.c.id).desc()))
        query = _filtered(query, date_from, date_to, exact)
        if verdict:
            query = query.having(anomalies > 0 if verdict == "anomaly" else anomalies == 0)
        with database.engine(self.target).connect() as connection:
            for row in connection.execution_options(yield_per=500).execute(query):
                yield {**row._asdict(), "anomalies": int(row.anomalies)}

    def request_rows(self, request_id, day=None):
        """audit.request_rows on the table: one request's rows, decoded, numbered from 1."""
        query = self._select().where(audit.c.request_id == neutralise_formula(request_id))
        with database.engine(self.target).connect() as connection:
            rows = connection.execute(query.order_by(audit.c.id)).all()
        return [decode_record(dict(zip(AUDIT_COLUMNS, row, strict=True)), number)
                for number, row in enumerate(rows, start=1)]

    def asset_rows_since(self, asset, since, until, limit):
        """audit.asset_rows_since on the table: the newest `limit` rows, oldest first."""
        cutoff = since.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        query = (self._select().where(audit.c.asset == asset, audit.c.timestamp_utc >= cutoff,
                                      audit.c.timestamp_utc < _next_day(until.date().isoformat()))
                 .order_by(audit.c.id.desc()).limit(limit))
        with database.engine(self.target).connect() as connection:
            rows = connection.execute(query).all()
        return [dict(zip(AUDIT_COLUMNS, row, strict=True)) for row in reversed(rows)]

    def iter_asset_rows(self, asset, since, until):
        """audit.iter_asset_rows on the table: rows in [since, until), oldest first, streamed."""
        query = (self._select().where(audit.c.asset == asset,
                                      audit.c.timestamp_utc >= _stamp(since),
                                      audit.c.timestamp_utc < _stamp(until))
                 .order_by(audit.c.id))
        with database.engine(self.target).connect() as connection:
            for row in connection.execution_options(yield_per=5000).execute(query):
                yield dict(zip(AUDIT_COLUMNS, row, strict=True))

    @staticmethod
    def _select():
        return sa.select(*(audit.c[name] for name in AUDIT_COLUMNS))

    def count_batch(self, batch_id, since_day):
        """Rows already audited for `batch_id` (a watch-folder file resumed after a crash)."""
        query = (sa.select(sa.func.count()).select_from(audit)
                 .where(audit.c.batch_id == batch_id, audit.c.timestamp_utc >= since_day))
        with database.engine(self.target).connect() as connection:
            return connection.execute(query).scalar_one()

    def day_chunks(self, day, size):
        """The rows of a UTC day, in lists of at most `size`, in write order."""
        chunk = []
        for row in self.day_rows(day):
            chunk.append(row)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def export_day(self, day, path):
        """Write the day as the CSV store's file predictions-DAY.csv; returns the row count."""
        header = audit_header()
        count = 0

        def chunks():
            nonlocal count
            yield header
            batch = []
            for row in self.day_rows(day):
                batch.append(row)
                count += 1
                if len(batch) == 5000:
                    yield stored_lines(batch)
                    batch = []
            yield stored_lines(batch)

        write_atomic(path, lambda handle: handle.writelines(chunks()))
        return count


def stored_lines(rows):
    """CSV lines of stored rows: their cells are already the file's text (never re-rendered,
    or a score of -0.5 would gain the formula guard's quote)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([row[name] for name in AUDIT_COLUMNS])
    return buffer.getvalue()


def _chained_cells(connection, day, rows):
    """The rows' cells with their chain hash, following the day's last row.

    The transaction-scoped advisory lock makes writers of one day take turns (as flock does
    for a day file), so the chain never forks; it is released at commit or rollback.
    """
    connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                       {"key": f"vigie-audit-{day}"})
    previous = connection.execute(
        sa.select(audit.c[CHAIN_COLUMN])
        .where(audit.c.timestamp_utc >= day, audit.c.timestamp_utc < _next_day(day))
        .order_by(audit.c.id.desc()).limit(1)).scalar() or ""
    cells = [{name: cell_text(row.get(name)) for name in HASHED} for row in rows]
    lines = split_lines(render_rows(rows, HASHED), len(rows),
                        lambda i: [cells[i][name] for name in HASHED])
    for cell, line in zip(cells, lines, strict=True):
        previous = row_hash(previous, line)
        cell[CHAIN_COLUMN] = previous
    return cells


def _copy(connection, cells):
    # COPY streams the rows in one round trip: a 20,000-row batch chunk in well under a second.
    cursor = connection.connection.driver_connection.cursor()
    columns = ", ".join(AUDIT_COLUMNS)
    with cursor.copy(f"COPY audit ({columns}) FROM STDIN") as copy:
        for row in cells:
            copy.write_row([row[name] for name in AUDIT_COLUMNS])


def _filtered(query, date_from, date_to, exact):
    """`query` kept to the exact field values (as audited, formula guard included) and days."""
    for name, value in (exact or {}).items():
        if value:
            query = query.where(audit.c[name] == neutralise_formula(value))
    if date_from:
        query = query.where(audit.c.timestamp_utc >= date_from)
    if date_to:
        query = query.where(audit.c.timestamp_utc < _next_day(date_to))
    return query


def _stamp(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _next_day(day):
    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


def default_export_path(audit_dir, day):
    """Where the CSV store keeps that day: the export lands in the same place by default."""
    return os.path.join(audit_dir, f"predictions-{day}.csv")
