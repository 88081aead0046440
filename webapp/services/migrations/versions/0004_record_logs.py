"""PostgreSQL only: the record logs (rejections, feedback, model events, alarms, acks), append-only.

Each table holds the columns of its CSV file as text (services/record_log.py), after an
identity id that gives the write order. All five are logs by nature: an alarm is already two
event rows (open, then close) sharing its alarm_id, never a row changed in place. So the
application role may only INSERT and SELECT them, and a trigger refuses UPDATE, DELETE and
TRUNCATE even to the owner, as for the audit. On SQLite they stay CSV files: nothing to do.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APP_ROLE = "vigie_app"
# Frozen copies of the columns at this revision (a later column gets its own migration):
# table -> (columns, the column that dates a row).
TABLES = {
    "rejections": (("timestamp_utc", "request_id", "channel", "principal", "asset", "reading",
                    "field", "code", "message"), "timestamp_utc"),
    "feedback": (("timestamp_utc", "principal", "request_id", "reading", "alarm_id", "verdict",
                  "comment", "asset", "model_version", "prediction_time"), "timestamp_utc"),
    "model_events": (("timestamp_utc", "principal", "asset", "from_version", "to_version",
                      "action", "reason"), "timestamp_utc"),
    "alarm_events": (("event", "alarm_id", "asset", "opened_at", "closed_at", "peak_score",
                      "top_sensors", "model_version", "source", "file", "reading_opened_at",
                      "reading_closed_at", "logged_at"), "logged_at"),
    "alarm_acks": (("timestamp_utc", "principal", "alarm_id", "comment"), "timestamp_utc"),
}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION record_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the % log is append-only: % refused', TG_TABLE_NAME, TG_OP;
        END $$""")
    for table, (columns, time_column) in TABLES.items():
        op.create_table(
            table,
            sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
            *(sa.Column(name, sa.Text, nullable=False, server_default="") for name in columns))
        op.create_index(f"{table}_{time_column}", table, [time_column])
        op.execute(f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION record_log_is_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION record_log_is_append_only()")
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC, {APP_ROLE}")
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}")
    # The menu counts open alarms on every page; the follower looks up its own events.
    op.create_index("alarm_events_alarm_id", "alarm_events", ["alarm_id"])
    op.create_index("model_events_asset", "model_events", ["asset"])
    op.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
