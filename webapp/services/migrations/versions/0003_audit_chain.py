"""PostgreSQL only: the audit columns added by the hash chain work (client_request_id, chain).

Same order as the CSV file: client_request_id, then chain_sha256 last. The append-only trigger
does not fire for ADD COLUMN; rows written before this migration have empty cells there (they
are reported as not chained by `audit verify`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in ("client_request_id", "chain_sha256"):
        op.add_column("audit", sa.Column(name, sa.Text, nullable=False, server_default=""))
