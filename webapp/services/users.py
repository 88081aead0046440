"""Users and roles in the shared database (SQLite instance/vigie.db, or PostgreSQL)."""

import functools
import os
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.services import database, schema
from webapp.services.database import users as table
from webapp.services.storage import utc_now_iso

ROLES = ("operator", "analyst", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")  # \Z: "$" lets a final newline in
MIN_PASSWORD_LENGTH = 8
ADMIN_NAME = "admin"


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


def init_db(path):
    """Bring the database to the current schema (the embedded SQLite default upgrades itself)."""
    schema.upgrade(path)


def _user(row):
    return User(row.id, row.username, row.role, row.created_at, bool(row.active),
                row.session_version, bool(row.must_change_password))

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
        with database.engine(path).begin() as connection:
            connection.execute(table.insert().values(
                username=username, password_hash=generate_password_hash(password), role=role,
                created_at=utc_now_iso(), must_change_password=bool(must_change_password)))
    except database.IntegrityError:
        raise UserError(f"a user named {username!r} already exists") from None
    return get_user_by_name(path, username)


def _fetch_one(path, condition):
    with database.engine(path).connect() as connection:
        return connection.execute(sa.select(table).where(condition)).first()


def get_user(path, user_id):
    """The user with this id, or None."""
    row = _fetch_one(path, table.c.id == user_id)
    return _user(row) if row else None


def get_user_by_name(path, username):
    """The user with this name, or None."""
    row = _fetch_one(path, table.c.username == username)
    return _user(row) if row else None


def authenticate(path, username, password):
    """The active user whose password matches, or None."""
    row = _fetch_one(path, table.c.username == username)
    if row is None or not row.active:
        # One hash check, as for a wrong password, so that timing does not tell which names
        # exist (hashing a new dummy here cost a second scrypt run: 0.48 s against 0.25 s).
        check_password_hash(_dummy_hash(), password or "")
        return None
    return _user(row) if check_password_hash(row.password_hash, password or "") else None


@functools.cache
def _dummy_hash():
    return generate_password_hash(secrets.token_hex(16))


def list_users(path):
    """Every user, by name."""
    with database.engine(path).connect() as connection:
        return [_user(row) for row in
                connection.execute(sa.select(table).order_by(table.c.username))]


def _other_active_admins(connection, username):
    return connection.execute(
        sa.select(sa.func.count()).select_from(table).where(
            table.c.role == "admin", table.c.active == sa.true(),
            table.c.username != username)).scalar_one()


def _change(path, username, column, value):
    """Set one column of a user, refusing a change that would leave no active admin."""
    # The write lock is taken first: two admins demoting each other at once cannot both win.
    with database.write_transaction(path) as connection, connection.begin():
        database.lock_table(connection, table)
        row = connection.execute(sa.select(table).where(table.c.username == username)).first()
        if row is None:
            raise UnknownUser(f"no user named {username!r}")
        removes_admin = row.role == "admin" and row.active and (
            (column == "role" and value != "admin") or (column == "active" and not value))
        if removes_admin and not _other_active_admins(connection, username):
            raise LastAdminError("this would leave no active admin")
        # A new role or a deactivation applies now: cookies of the old sessions stop working.
        connection.execute(table.update().where(table.c.username == username)
                           .values({column: value,
                                    "session_version": table.c.session_version + 1}))
    return get_user_by_name(path, username)


def set_role(path, username, role):
    """Give a user another role; raise UserError for an unknown role or the last admin."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    return _change(path, username, "role", role)


def set_active(path, username, active):
    """Deactivate (no more logins) or reactivate a user; the last active admin stays."""
    return _change(path, username, "active", bool(active))


def bump_session_version(path, username):
    """Void every session and remember-me cookie of `username` (logout, password change)."""
    with database.engine(path).begin() as connection:
        connection.execute(table.update().where(table.c.username == username)
                           .values(session_version=table.c.session_version + 1))


def set_password(path, username, password, must_change=False):
    """Give `username` a new password and void their sessions; `must_change` for a reset.

    Raise UnknownUser or UserError (too short)."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    with database.engine(path).begin() as connection:
        changed = connection.execute(
            table.update().where(table.c.username == username).values(
                password_hash=generate_password_hash(password),
                must_change_password=bool(must_change),
                session_version=table.c.session_version + 1)).rowcount
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
