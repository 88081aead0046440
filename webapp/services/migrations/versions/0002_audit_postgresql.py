"""PostgreSQL only: the append-only audit table, and the application role's grants.

The application role (vigie_app) may read and write users, keys and failed sign-ins, and may
only INSERT and SELECT audit rows; a trigger refuses UPDATE, DELETE and TRUNCATE of audit rows
even to the owner. On SQLite the audit stays in the CSV day files and this migration does
nothing. The cells are stored as the text the CSV file holds, so an export is the same file.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copy of the audit columns at this revision (a later column gets its own migration).
AUDIT_COLUMNS = (
    "timestamp_utc", "request_id", "channel", "principal", "asset", "model_version",
    "model_sha256", "inputs", "reading_timestamp", "batch_id", "score", "threshold",
    "anomaly", "top_sensors", "latency_ms", "app_version",
    "shadow_version", "shadow_score", "shadow_anomaly",
)
APP_ROLE = "vigie_app"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        *(sa.Column(name, sa.Text, nullable=False, server_default="") for name in AUDIT_COLUMNS))
    op.create_index("audit_timestamp", "audit", ["timestamp_utc"])
    op.create_index("audit_request_id", "audit", ["request_id"])
    op.execute("""
        CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit is append-only: % refused', TG_OP;
        END $$""")
    op.execute("CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit "
               "FOR EACH ROW EXECUTE FUNCTION audit_is_append_only()")
    op.execute("CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
               "FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only()")
    _grants()


def _grants():
    op.execute(f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN;
            END IF;
        END $$""")
    op.execute(f"REVOKE ALL ON audit FROM PUBLIC, {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON audit TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON users, api_keys, login_failures "
               f"TO {APP_ROLE}")
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON alembic_version TO {APP_ROLE}")
