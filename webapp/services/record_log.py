"""Append-only record logs (rejections, feedback, model events, alarms, acks): two stores.

As for the audit, the concept modules never say where their rows go. Each one names its log
with a RecordKind (table, CSV file, columns, the column that dates a row) and asks
`logs_at(where).log(KIND)` for it. `where` is a Logs: the log folder's CSV files (the embedded
default, one host), or, when the database is PostgreSQL (several hosts), one table per kind
that the application role may only INSERT into and SELECT from (migration 0004). A plain
folder path stands for its CSV files, so scripts and tests can pass one.

Both stores keep the text a CSV cell holds (formula guard, number rendering, "" for None), so
a row reads back from either as the same dict of strings, oldest first.
"""

import csv
import io
import os
import re
from dataclasses import dataclass

import sqlalchemy as sa

from webapp.services import database
from webapp.services.storage import _cell as cell_text  # the one rendering of a CSV cell
from webapp.services.storage import append_csv
from webapp.services.storage import day_files as storage_day_files

DAY = "{day}"


@dataclass(frozen=True)
class RecordKind:
    """One record log: its table, its CSV file ('name-{day}.csv': one file per UTC day)."""

    table: str
    columns: tuple
    file: str
    time_column: str = "timestamp_utc"

    @property
    def daily(self):
        return DAY in self.file

    def file_pattern(self):
        """The regular expression of its day files (group 1: the day)."""
        before, after = self.file.split(DAY)
        return re.compile(f"^{re.escape(before)}(\\d{{4}}-\\d{{2}}-\\d{{2}}){re.escape(after)}$")


class Logs:
    """Where the record logs live: CSV files in `folder`, or the shared PostgreSQL database.

    `database_url` is the application's database; the embedded SQLite one keeps the files.
    """

    def __init__(self, folder, database_url=None):
        self.folder = str(folder)
        shared = database_url is not None and not database.is_sqlite(database_url)
        self.database_url = database_url if shared else None

    @property
    def shared(self):
        """True when the rows are in the database every instance shares."""
        return self.database_url is not None

    def log(self, kind):
        """The record log of `kind` in this place."""
        if self.shared:
            return DatabaseRecordLog(self.database_url, kind)
        return CsvRecordLog(self.folder, kind)


def logs_at(where):
    """`where` as Logs: a Logs is kept, a folder path stands for the CSV files in it."""
    return where if isinstance(where, Logs) else Logs(where)


def _in_days(day, date_from, date_to):
    return (not date_from or day >= date_from) and (not date_to or day <= date_to)


class CsvRecordLog:
    """A record log in CSV files: one locked append per write (storage.append_csv)."""

    def __init__(self, folder, kind):
        self.folder = folder
        self.kind = kind
        self.key = (folder, kind.table)  # names this log in a process-wide cache

    def path(self, day=None):
        """The file of the log (of one UTC day 'YYYY-MM-DD' for a daily log)."""
        return os.path.join(self.folder, self.kind.file.format(day=day))

    def files(self):
        """{day: path} of a daily log's files; {"": path} of a single file that exists."""
        if self.kind.daily:
            return storage_day_files(self.folder, self.kind.file_pattern())
        return {"": self.path()} if os.path.exists(self.path()) else {}

    def append(self, rows):
        """Append `rows` (dicts; missing columns are empty): one locked write per file."""
        os.makedirs(self.folder, exist_ok=True)
        if not self.kind.daily:
            append_csv(self.path(), rows, self.kind.columns)
            return
        by_day = {}
        for row in rows:
            by_day.setdefault(str(row[self.kind.time_column])[:10], []).append(row)
        for day, day_rows in by_day.items():
            append_csv(self.path(day), day_rows, self.kind.columns)

    def rows(self, *, date_from="", date_to="", exact=None):
        """Rows (dicts of the cells) dated within [date_from, date_to] (days, either may be
        empty) whose `exact` columns hold the given values (as written), oldest first."""
        found = []
        for day, path in sorted(self.files().items()):
            if day and not _in_days(day, date_from, date_to):
                continue
            with open(path, encoding="utf-8", newline="") as handle:
                found.extend(row for row in csv.DictReader(handle)
                             if _matches(row, exact) and
                             _in_days(row.get(self.kind.time_column, "")[:10], date_from, date_to))
        return found

    def days(self):
        """The UTC days that have rows, sorted."""
        if self.kind.daily:
            return sorted(self.files())
        return sorted({row.get(self.kind.time_column, "")[:10] for row in self.rows()})

    def marker(self):
        """A value that changes whenever rows are appended (None: no row yet)."""
        stamps = []
        for _day, path in sorted(self.files().items()):
            stat = os.stat(path)
            stamps.append((path, stat.st_mtime_ns, stat.st_size))
        return tuple(stamps) or None


def _matches(row, exact):
    return all(row.get(name) == cell_text(value) for name, value in (exact or {}).items())


_TABLES = {}


def table_of(kind):
    """The SQLAlchemy table of a kind: an identity id (write order), then its text columns."""
    if kind.table not in _TABLES:
        _TABLES[kind.table] = sa.Table(
            kind.table, sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True),
            *(sa.Column(name, sa.Text) for name in kind.columns))
    return _TABLES[kind.table]


class DatabaseRecordLog:
    """A record log in its table: a write is one INSERT transaction, all its rows or none.

    A database that cannot be reached raises one of database.UNAVAILABLE (the page answers
    503); it never hangs longer than database.CONNECT_TIMEOUT.
    """

    def __init__(self, target, kind):
        self.target = target
        self.kind = kind
        self.table = table_of(kind)
        self.key = (database.url_of(target), kind.table)

    def append(self, rows):
        """Insert `rows` in one transaction, as the cells the CSV file would hold."""
        cells = [{name: cell_text(row.get(name)) for name in self.kind.columns} for row in rows]
        if not cells:
            return
        with database.engine(self.target).begin() as connection:
            connection.execute(self.table.insert(), cells)

    def rows(self, *, date_from="", date_to="", exact=None):
        """CsvRecordLog.rows in SQL: same filters, write order."""
        columns = self.kind.columns
        query = sa.select(*(self.table.c[name] for name in columns)).order_by(self.table.c.id)
        for name, value in (exact or {}).items():
            query = query.where(self.table.c[name] == cell_text(value))
        time = self.table.c[self.kind.time_column]
        if date_from:
            query = query.where(time >= date_from)
        if date_to:
            # Every timestamp of the day sorts before day + "U" ('YYYY-MM-DDT...').
            query = query.where(time < date_to + "U")
        with database.engine(self.target).connect() as connection:
            return [dict(zip(columns, row, strict=True)) for row in connection.execute(query)]

    def days(self):
        """The UTC days that have rows, sorted."""
        day = sa.func.substr(self.table.c[self.kind.time_column], 1, 10)
        with database.engine(self.target).connect() as connection:
            return sorted(connection.execute(sa.select(day).distinct()).scalars())

    def marker(self):
        """The row count: rows are only ever added, so it changes at every committed write."""
        query = sa.select(sa.func.count()).select_from(self.table)
        with database.engine(self.target).connect() as connection:
            return connection.execute(query).scalar_one() or None


def stored_csv(columns, rows):
    """CSV text (header first) of stored rows: their cells are already the file's text, so
    they are written as they are (never re-guarded: a stored '-0.5' would gain a quote)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(name, "") for name in columns])
    return buffer.getvalue()
