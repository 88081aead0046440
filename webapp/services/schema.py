"""Versioned schema migrations (Alembic): apply them, and check that a database is current."""

import contextlib
import fcntl
import functools
import os

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from webapp.services import database

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
APP_ROLE = "vigie_app"  # the group role the migrations grant to; login roles join it


class SchemaOutOfDate(RuntimeError):
    """The database is at an older (or unknown) schema than this code needs."""


def _config(connection=None):
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision():
    """The newest migration this code ships."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(target):
    """The migration the database is at (None for an empty database)."""
    with database.engine(target).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(target):
    """Apply every missing migration, in one transaction (several processes may ask at once)."""
    if current_revision(target) == head_revision():
        return  # the usual case at start-up: one query, no migration scripts loaded
    with _sqlite_file_lock(target), database.engine(target).begin() as connection:
        command.upgrade(_config(connection), "head")


@contextlib.contextmanager
def _sqlite_file_lock(target):
    # Several gunicorn workers upgrade the embedded database at start-up: one at a time.
    # (On PostgreSQL the migration environment takes an advisory lock instead.)
    if not database.is_sqlite(target):
        yield
        return
    path = database.url_of(target).removeprefix("sqlite:///") + ".migrate.lock"
    with open(path, "a", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def check(target):
    """Raise SchemaOutOfDate, saying what to run, unless the database is at the head."""
    current, head = current_revision(target), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"the database schema is at {current or 'nothing (empty database)'} but this Vigie "
            f"needs {head}: run `flask --app webapp db upgrade` (with VIGIE_DATABASE_OWNER_URL "
            "set to a role that may change the schema), then start again")


def grant_app_role(owner_target, login_user):
    """Make `login_user` a member of the application role (PostgreSQL; idempotent)."""
    if database.is_sqlite(owner_target) or not login_user:
        return False
    owner = database.user_of(owner_target)
    if login_user == owner:
        return False  # one role for everything: it owns the tables (see docs/operations.md)
    with database.engine(owner_target).begin() as connection:
        quoted = connection.dialect.identifier_preparer.quote(login_user)
        connection.exec_driver_sql(f"GRANT {APP_ROLE} TO {quoted}")
    return True
