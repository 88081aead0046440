"""Login throttling: failed logins counted in the database, so that every worker sees them.

A user name, or an address, that failed too often within the window is refused until its
oldest counted failure leaves the window. A successful login clears the failures of that user
name only: signing in as oneself must not wipe the guesses made at someone else's password.
"""

import time
from dataclasses import dataclass

import sqlalchemy as sa

from webapp.services import database, schema
from webapp.services.database import login_failures as table

MAX_NAME_LENGTH = 64  # longer names cannot exist; cutting them bounds what is stored


@dataclass(frozen=True)
class Policy:
    """How many failures, per user name and per address, within how many seconds."""

    per_user: int = 5
    per_address: int = 20
    window: float = 300.0


def init_db(path):
    """Bring the database to the current schema (the login_failures table is in it)."""
    schema.upgrade(path)


def _key(username):
    return (username or "").strip()[:MAX_NAME_LENGTH]


def retry_after(path, username, address, policy, now=None):
    """Seconds until a login for this name from this address may be tried; 0 if now."""
    now = time.time() if now is None else now
    since = now - policy.window
    with database.engine(path).connect() as connection:
        waits = [_wait(connection, column, value, limit, since, policy.window, now)
                 for column, value, limit in ((table.c.username, _key(username), policy.per_user),
                                              (table.c.address, address or "", policy.per_address))]
    return max(waits)


def _wait(connection, column, value, limit, since, window, now):
    # The failure that, once outside the window, brings the count below the limit.
    failed_at = connection.execute(
        sa.select(table.c.failed_at).where(column == value, table.c.failed_at > since)
        .order_by(table.c.failed_at.desc()).limit(1).offset(limit - 1)).scalar()
    return max(0.0, failed_at + window - now) if failed_at is not None else 0.0


def record_failure(path, username, address, policy, now=None):
    """Count one failed login, and forget failures older than the window."""
    now = time.time() if now is None else now
    with database.engine(path).begin() as connection:
        connection.execute(table.delete().where(table.c.failed_at <= now - policy.window))
        connection.execute(table.insert().values(username=_key(username), address=address or "",
                                                 failed_at=now))


def clear(path, username):
    """Forget the failures of this user name (after its good login), and no other's."""
    with database.engine(path).begin() as connection:
        connection.execute(table.delete().where(table.c.username == _key(username)))


def policy_from_config(config):
    """The policy set by LOGIN_MAX_FAILURES_PER_USER, ..._PER_ADDRESS, LOGIN_THROTTLE_SECONDS."""
    return Policy(int(config["LOGIN_MAX_FAILURES_PER_USER"]),
                  int(config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
                  float(config["LOGIN_THROTTLE_SECONDS"]))
