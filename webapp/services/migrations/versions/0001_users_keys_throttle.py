"""Users (with session version and forced password change), API keys, failed sign-ins.

Databases made by earlier Vigie versions (CREATE TABLE IF NOT EXISTS, no Alembic) already hold
some of these tables: they are kept, and only what is missing is added.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    _users(existing)
    if "api_keys" not in existing:
        op.create_table(
            "api_keys",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("name", sa.Text, nullable=False, unique=True),
            sa.Column("role", sa.Text, nullable=False),
            sa.Column("key_hash", sa.Text, nullable=False, unique=True),
            sa.Column("key_prefix", sa.Text, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("created_by", sa.Text, nullable=False),
            sa.Column("last_used_at", sa.Text),
            sa.Column("revoked_at", sa.Text))
    if "login_failures" not in existing:
        op.create_table(
            "login_failures",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("username", sa.Text, nullable=False),
            sa.Column("address", sa.Text, nullable=False),
            sa.Column("failed_at", sa.Float, nullable=False))
        op.create_index("login_failures_username", "login_failures", ["username", "failed_at"])
        op.create_index("login_failures_address", "login_failures", ["address", "failed_at"])


def _users(existing):
    new_columns = (
        sa.Column("session_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("must_change_password", sa.Boolean, nullable=False,
                  server_default=sa.false()))
    if "users" in existing:
        present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("users")}
        for column in new_columns:
            if column.name not in present:
                op.add_column("users", column)
        return
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.Text, nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        *new_columns)
