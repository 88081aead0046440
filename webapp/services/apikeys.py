"""API keys for machines (gateways, loggers, pipelines): stored only as a hash, revocable."""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from webapp.services import database, schema
from webapp.services.database import api_keys as table
from webapp.services.storage import utc_now_iso
from webapp.services.users import ROLE_RANK, ROLES

KEY_PREFIX = "vg_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}\Z")  # \Z: "$" lets a final newline in
# Writing last_used on every call would serialise all workers on the database.
LAST_USED_RESOLUTION = timedelta(seconds=60)

class ApiKeyError(ValueError):
    """A key cannot be created or changed as asked; the message says why."""


class RevokedKey(Exception):
    """The key exists but was revoked."""


@dataclass
class ApiKey:
    """A key's record (never the key itself)."""

    name: str
    role: str
    key_prefix: str
    created_at: str
    created_by: str
    last_used_at: str | None
    revoked_at: str | None

    @property
    def principal(self):
        """How the audit log names this key."""
        return f"apikey:{self.name}"

    @property
    def revoked(self):
        return self.revoked_at is not None

    def has_role(self, role):
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def hash_key(key):
    """Keys are long random strings, so one sha256 is enough (no slow password hash)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def init_db(path):
    """Bring the database to the current schema (the api_keys table is in it)."""
    schema.upgrade(path)


def _record(row):
    return ApiKey(row.name, row.role, row.key_prefix, row.created_at, row.created_by,
                  row.last_used_at, row.revoked_at)


def create_key(path, name, role, created_by):
    """Create a key; return (record, the key itself), which is shown once and never stored."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ApiKeyError("key names use letters, digits, '.', '-' or '_' (64 at most)")
    if role not in ROLES:
        raise ApiKeyError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        with database.engine(path).begin() as connection:
            connection.execute(table.insert().values(
                name=name, role=role, key_hash=hash_key(key), key_prefix=key[:len(KEY_PREFIX) + 4],
                created_at=utc_now_iso(), created_by=created_by))
    except database.IntegrityError:
        raise ApiKeyError(f"a key named {name!r} already exists") from None
    return get_key(path, name), key


def get_key(path, name):
    """The record of the key called `name`, or None."""
    with database.engine(path).connect() as connection:
        row = connection.execute(sa.select(table).where(table.c.name == name)).first()
    return _record(row) if row else None


def list_keys(path):
    """Every key's record, by name."""
    with database.engine(path).connect() as connection:
        return [_record(r) for r in connection.execute(sa.select(table).order_by(table.c.name))]


def revoke_key(path, name):
    """Revoke a key for good; raise ApiKeyError if there is no such active key."""
    with database.engine(path).begin() as connection:
        changed = connection.execute(
            table.update().where(table.c.name == name, table.c.revoked_at.is_(None))
            .values(revoked_at=utc_now_iso())).rowcount
    if not changed:
        raise ApiKeyError(f"no active key named {name!r}")


# Built once: building the statement on every API call cost as much as running it.
_BY_HASH = sa.select(table).where(table.c.key_hash == sa.bindparam("key_hash"))


def authenticate_key(path, key):
    """The record of a valid key, None for an unknown one; RevokedKey for a revoked one."""
    if not key:
        return None
    with database.engine(path).connect() as connection:
        row = connection.execute(_BY_HASH, {"key_hash": hash_key(key)}).first()
        if row is None:
            return None
        if row.revoked_at:
            raise RevokedKey(row.name)
        _touch(connection, row)
    return _record(row)


def _touch(connection, row):
    now = datetime.now(timezone.utc)
    last = row.last_used_at
    if last and now - datetime.fromisoformat(last.replace("Z", "+00:00")) < LAST_USED_RESOLUTION:
        return
    try:
        connection.execute(table.update().where(table.c.id == row.id)
                           .values(last_used_at=utc_now_iso()))
        connection.commit()
    except database.UNAVAILABLE:
        connection.rollback()  # a busy database must not fail the call; last use is informative
