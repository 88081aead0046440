"""PostgreSQL only: background job states and the monitoring day summaries, shared by instances.

`job_states` holds one row per batch upload or training job (its request, its progress and
result as JSON, and who runs it), so that any instance answers the progress poll; the
application role may INSERT, UPDATE and SELECT it (never DELETE). `monitoring_days` holds one
summary per closed UTC day and kind, computed once by whichever worker first needs it; the
application role may only INSERT and SELECT it (a closed day never changes). On SQLite the job
states stay JSON files and the summaries stay in logs/cache/: this migration does nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APP_ROLE = "vigie_app"  # created by 0002


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_table(
        "job_states",
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("principal", sa.Text, nullable=False, server_default=""),
        sa.Column("asset", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("meta", sa.Text, nullable=False, server_default="{}"),
        sa.Column("state", sa.Text, nullable=False, server_default="{}"),
        sa.Column("summary", sa.Text),
        sa.Column("host", sa.Text, nullable=False, server_default=""),
        sa.Column("pid", sa.Integer),
        sa.Column("beat_at", sa.Float, nullable=False))
    op.create_index("job_states_listing", "job_states", ["kind", "created_at"])
    op.create_table(
        "monitoring_days",
        sa.Column("kind", sa.Text, primary_key=True),
        sa.Column("day", sa.Text, primary_key=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("computed_at", sa.Text, nullable=False))
    op.execute(f"REVOKE ALL ON job_states, monitoring_days FROM PUBLIC, {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON job_states TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON monitoring_days TO {APP_ROLE}")
