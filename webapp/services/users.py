"""Users and roles in the embedded SQLite database (instance/vigie.db)."""

import contextlib
import functools
import os
import re
import secrets
import sqlite3
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from webapp.services.storage import utc_now_iso

ROLES = ("operator", "analyst", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")  # \Z: "$" lets a final newline in
MIN_PASSWORD_LENGTH = 8
ADMIN_NAME = "admin"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    session_version INTEGER NOT NULL DEFAULT 0,
    must_change_password BOOLEAN NOT NULL DEFAULT false
);
"""
# Columns added after the first release: added to an existing users table at start.
ADDED_COLUMNS = {
    "session_version": "INTEGER NOT NULL DEFAULT 0",
    "must_change_password": "BOOLEAN NOT NULL DEFAULT false",
}


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


class UnknownUser(UserError):
    """No user has this name."""


class LastAdminError(UserError):
    """The change would leave nobody able to administer Vigie."""


@dataclass
class User:
    """A person who logs in; the attributes flask-login expects are plain properties."""

    id: int
    username: str
    role: str
    created_at: str
    active: bool = True
    session_version: int = 0
    must_change_password: bool = False
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self):
        return self.active

    def get_id(self):
        """Id and session version: a bumped version voids every cookie made before (revocation)."""
        return f"{self.id}:{self.session_version}"

    def has_role(self, role):
        """True when this user's role is `role` or above it."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def principal(self):
        """How the audit log names this user."""
        return self.username


def connect(path):
    """A connection that waits for other workers' writes instead of failing."""
    connection = sqlite3.connect(path, timeout=15)
    connection.row_factory = sqlite3.Row
    return connection


@contextlib.contextmanager
def database(path):
    """A connection closed after use (sqlite3's own `with` commits but does not close)."""
    connection = connect(path)
    try:
        yield connection
    finally:
        connection.close()


def create_tables(path, schema):
    """Run a CREATE TABLE IF NOT EXISTS script on the database at `path`."""
    with database(path) as connection:
        connection.executescript(schema)


def init_db(path):
    """Create the tables if they do not exist yet, and add columns a newer release needs."""
    create_tables(path, SCHEMA)
    with database(path) as connection, connection:
        present = {row["name"] for row in connection.execute("PRAGMA table_info(users)")}
        for column, definition in ADDED_COLUMNS.items():
            if column not in present:
                connection.execute(f"ALTER TABLE users ADD COLUMN {column} {definition}")


def _user(row):
    return User(row["id"], row["username"], row["role"], row["created_at"], bool(row["active"]),
                row["session_version"], bool(row["must_change_password"]))


def check_new_user(username, password, role):
    """Raise UserError unless the name, password and role are acceptable."""
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        raise UserError("user names use letters, digits, '.', '-' or '_' (64 at most)")
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def create_user(path, username, password, role, must_change_password=False):
    """Add a user with a hashed password; raise UserError if the name is taken."""
    check_new_user(username, password, role)
    try:
        with database(path) as connection, connection:
            connection.execute(
                "INSERT INTO users (username, password_hash, role, created_at, "
                "must_change_password) VALUES (?,?,?,?,?)",
                (username, generate_password_hash(password), role, utc_now_iso(),
                 bool(must_change_password)))
    except sqlite3.IntegrityError:
        raise UserError(f"a user named {username!r} already exists") from None
    return get_user_by_name(path, username)


def _fetch_one(path, query, params):
    with database(path) as connection:
        return connection.execute(query, params).fetchone()


def get_user(path, user_id):
    """The user with this id, or None."""
    row = _fetch_one(path, "SELECT * FROM users WHERE id = ?", (user_id,))
    return _user(row) if row else None


def get_user_by_name(path, username):
    """The user with this name, or None."""
    row = _fetch_one(path, "SELECT * FROM users WHERE username = ?", (username,))
    return _user(row) if row else None


def authenticate(path, username, password):
    """The active user whose password matches, or None."""
    row = _fetch_one(path, "SELECT * FROM users WHERE username = ?", (username,))
    if row is None or not row["active"]:
        # One hash check, as for a wrong password, so that timing does not tell which names
        # exist (hashing a new dummy here cost a second scrypt run: 0.48 s against 0.25 s).
        check_password_hash(_dummy_hash(), password or "")
        return None
    return _user(row) if check_password_hash(row["password_hash"], password or "") else None


@functools.cache
def _dummy_hash():
    return generate_password_hash(secrets.token_hex(16))


def list_users(path):
    """Every user, by name."""
    with database(path) as connection:
        return [_user(row) for row in connection.execute("SELECT * FROM users ORDER BY username")]


def _other_active_admins(connection, username):
    return connection.execute(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND active = 1 AND username != ?",
        (username,)).fetchone()[0]


def _change(path, username, column, value):
    """Set one column of a user, refusing a change that would leave no active admin."""
    with database(path) as connection:
        with connection:
            # BEGIN IMMEDIATE: two admins demoting each other at once cannot both succeed.
            connection.execute("BEGIN IMMEDIATE")
            row = connection.execute("SELECT * FROM users WHERE username = ?",
                                     (username,)).fetchone()
            if row is None:
                raise UnknownUser(f"no user named {username!r}")
            removes_admin = row["role"] == "admin" and row["active"] and (
                (column == "role" and value != "admin") or (column == "active" and not value))
            if removes_admin and not _other_active_admins(connection, username):
                raise LastAdminError("this would leave no active admin")
            # A new role or a deactivation applies now: cookies of the old sessions stop working.
            connection.execute(f"UPDATE users SET {column} = ?, "
                               "session_version = session_version + 1 WHERE username = ?",
                               (value, username))
    return get_user_by_name(path, username)


def set_role(path, username, role):
    """Give a user another role; raise UserError for an unknown role or the last admin."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return _change(path, username, "role", role)


def set_active(path, username, active):
    """Deactivate (no more logins) or reactivate a user; the last active admin stays."""
    return _change(path, username, "active", 1 if active else 0)


def get_session_version(path, user_id):
    """The current session version of user `user_id`, or None if there is no such user."""
    row = _fetch_one(path, "SELECT session_version FROM users WHERE id = ?", (user_id,))
    return row["session_version"] if row else None


def bump_session_version(path, username):
    """Void every session and remember-me cookie of `username` (logout, password change)."""
    with database(path) as connection, connection:
        connection.execute(
            "UPDATE users SET session_version = session_version + 1 WHERE username = ?",
            (username,))


def set_password(path, username, password, must_change=False):
    """Give `username` a new password and void their sessions; `must_change` for a reset.

    Raise UnknownUser or UserError (too short)."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with database(path) as connection, connection:
        changed = connection.execute(
            "UPDATE users SET password_hash = ?, must_change_password = ?, "
            "session_version = session_version + 1 WHERE username = ?",
            (generate_password_hash(password), bool(must_change), username)).rowcount
    if not changed:
        raise UnknownUser(f"no user named {username!r}")
    return get_user_by_name(path, username)


def ensure_admin(path, instance_dir, password=None):
    """Create the admin account on first start; return the generated password's file, else None.

    A generated password is written to instance/initial_admin_password (mode 600) so that
    whoever installed Vigie can read it once, and must be changed at the first sign-in.
    """
    if get_user_by_name(path, ADMIN_NAME) is not None:
        return None
    generated = password is None
    password = password or secrets.token_urlsafe(12)
    try:
        create_user(path, ADMIN_NAME, password, "admin", must_change_password=generated)
    except UserError:  # another worker created it in the meantime
        return None
    if generated:
        target = os.path.join(instance_dir, "initial_admin_password")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
        return target
    return None
