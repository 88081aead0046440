"""Login throttling: failed logins counted in SQLite, so that every gunicorn worker sees them.

A user name, or an address, that failed too often within the window is refused until its
oldest counted failure leaves the window. A successful login clears the failures of that user
name only: signing in as oneself must not wipe the guesses made at someone else's password.
"""

import time
from dataclasses import dataclass

from webapp.services.users import create_tables, database

SCHEMA = """
CREATE TABLE IF NOT EXISTS login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    address TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_username ON login_failures (username, failed_at);
CREATE INDEX IF NOT EXISTS login_failures_address ON login_failures (address, failed_at);
"""
MAX_NAME_LENGTH = 64  # longer names cannot exist; cutting them bounds what is stored


@dataclass(frozen=True)
class Policy:
    """How many failures, per user name and per address, within how many seconds."""

    per_user: int = 5
    per_address: int = 20
    window: float = 300.0


def init_db(path):
    """Create the table if it does not exist yet."""
    create_tables(path, SCHEMA)


def _key(username):
    return (username or "").strip()[:MAX_NAME_LENGTH]


def retry_after(path, username, address, policy, now=None):
    """Seconds until a login for this name from this address may be tried; 0 if now."""
    now = time.time() if now is None else now
    since = now - policy.window
    with database(path) as connection:
        waits = [_wait(connection, column, value, limit, since, policy.window, now)
                 for column, value, limit in (("username", _key(username), policy.per_user),
                                              ("address", address or "", policy.per_address))]
    return max(waits)


def _wait(connection, column, value, limit, since, window, now):
    # The failure that, once outside the window, brings the count below the limit.
    row = connection.execute(
        f"SELECT failed_at FROM login_failures WHERE {column} = ? AND failed_at > ? "
        "ORDER BY failed_at DESC LIMIT 1 OFFSET ?", (value, since, limit - 1)).fetchone()
    return max(0.0, row[0] + window - now) if row else 0.0


def record_failure(path, username, address, policy, now=None):
    """Count one failed login, and forget failures older than the window."""
    now = time.time() if now is None else now
    with database(path) as connection:
        with connection:
            connection.execute("DELETE FROM login_failures WHERE failed_at <= ?",
                               (now - policy.window,))
            connection.execute(
                "INSERT INTO login_failures (username, address, failed_at) VALUES (?,?,?)",
                (_key(username), address or "", now))


def clear(path, username):
    """Forget the failures of this user name (after its good login), and no other's."""
    with database(path) as connection:
        with connection:
            connection.execute("DELETE FROM login_failures WHERE username = ?", (_key(username),))


def policy_from_config(config):
    """The policy set by LOGIN_MAX_FAILURES_PER_USER, ..._PER_ADDRESS, LOGIN_THROTTLE_SECONDS."""
    return Policy(int(config["LOGIN_MAX_FAILURES_PER_USER"]),
                  int(config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
                  float(config["LOGIN_THROTTLE_SECONDS"]))
