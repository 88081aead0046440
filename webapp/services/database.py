"""The shared database through SQLAlchemy Core: SQLite by default, PostgreSQL when configured.

Users, API keys and sign-in throttling live here (and, on PostgreSQL, the audit rows). Callers
pass a URL (`sqlite:///...` or `postgresql+psycopg://...`), or the path of a SQLite file; one
engine (and its connection pool) is kept per URL and per process.
"""

import os
import threading

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

# Errors that mean "the database cannot be reached right now": the caller answers 503.
UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError)
IntegrityError = sa.exc.IntegrityError
CONNECT_TIMEOUT = 3  # seconds; a database that went away must give a 503, not a hang

metadata = sa.MetaData()

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.Text, nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("session_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),
    sa.Column("key_prefix", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("last_used_at", sa.Text),
    sa.Column("revoked_at", sa.Text),
)

login_failures = sa.Table(
    "login_failures", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("failed_at", sa.Float, nullable=False),
)

_engines = {}
_engines_lock = threading.Lock()


def url_of(target):
    """A SQLAlchemy URL for `target`: a URL is kept, a file path becomes a SQLite URL."""
    target = str(target)
    if "://" in target:
        # "postgresql://" alone would pick psycopg2, which we do not ship: use psycopg 3.
        if target.startswith(("postgresql://", "postgres://")):
            target = "postgresql+psycopg://" + target.split("://", 1)[1]
        return target
    return "sqlite:///" + os.path.abspath(target)


def is_sqlite(target):
    """True for the embedded SQLite database (file path or sqlite:// URL)."""
    return url_of(target).startswith("sqlite")


def engine(target):
    """The process's engine for `target`, created on first use."""
    url = url_of(target)
    found = _engines.get(url)
    if found is not None:
        return found
    with _engines_lock:
        if url not in _engines:
            _engines[url] = _create_engine(url)
        return _engines[url]


def _create_engine(url):
    if url.startswith("sqlite"):
        created = sa.create_engine(url, connect_args={"timeout": 15})
        _sqlite_transactions(created)
        return created
    # pre_ping: a connection broken while the database was away is replaced, not used, so
    # the service recovers by itself when the database comes back.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                            pool_timeout=CONNECT_TIMEOUT,
                            connect_args={"connect_timeout": CONNECT_TIMEOUT})


def _sqlite_transactions(created):
    """Let SQLAlchemy, not the sqlite3 module, begin transactions; IMMEDIATE when asked.

    sqlite3 begins transactions lazily and never with BEGIN IMMEDIATE; a change that reads then
    writes (the last-admin rule) must take the write lock before it reads.
    """
    @event.listens_for(created, "connect")
    def no_implicit_begin(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(created, "begin")
    def begin(connection):
        mode = connection.get_execution_options().get("sqlite_begin", "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())


def write_transaction(target):
    """A transaction that holds the users table's write lock from its first statement.

    Two admins demoting each other at once cannot both succeed: the second waits for the
    first, then counts the admins again.
    """
    if is_sqlite(target):
        return engine(target).connect().execution_options(sqlite_begin="IMMEDIATE")
    return engine(target).connect()


def lock_table(connection, table):
    """On PostgreSQL, block other writers of `table` until the transaction ends (reads go on)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"LOCK TABLE {table.name} IN EXCLUSIVE MODE")


def reachable(target):
    """True when a trivial query succeeds (readiness probe)."""
    try:
        with engine(target).connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except UNAVAILABLE:
        return False
    return True


def user_of(target):
    """The database user name in a URL (None for SQLite)."""
    return make_url(url_of(target)).username


def dispose_all():
    """Close every pooled connection (tests; and after fork, see below)."""
    with _engines_lock:
        for created in _engines.values():
            created.dispose()
        _engines.clear()


def _forget_after_fork():
    # A child must not use its parent's sockets: it opens its own connections.
    for created in list(_engines.values()):
        created.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
