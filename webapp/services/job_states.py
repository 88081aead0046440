"""Background job states in the shared database, so that any instance answers a progress poll.

Selected when the database is PostgreSQL (several hosts); one host keeps its JSON files. One
row per job and kind ("batch", "training"): what was asked (`meta`), the progress or outcome
(`state`), the result (`summary`), each a JSON document replaced whole in one statement, and
who runs the job (host, pid, last heartbeat). The heartbeat is taken from the database's clock,
so that hosts whose clocks differ agree on how long a runner has been silent.
"""

import json
import os
import socket
import time

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from webapp.services import database
from webapp.services.storage import utc_now_iso

job_states = sa.Table(
    "job_states", sa.MetaData(),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("principal", sa.Text),
    sa.Column("asset", sa.Text),
    sa.Column("created_at", sa.Text),
    sa.Column("meta", sa.Text),
    sa.Column("state", sa.Text),
    sa.Column("summary", sa.Text),
    sa.Column("host", sa.Text),
    sa.Column("pid", sa.Integer),
    sa.Column("beat_at", sa.Float))
DOCUMENTS = ("meta", "state", "summary")
DATABASE_NOW = sa.text("extract(epoch from clock_timestamp())")


class DatabaseJobStates:
    """The jobs of one kind in the `job_states` table (PostgreSQL)."""

    def __init__(self, target, kind):
        self.target = target
        self.kind = kind

    def _runner(self):
        return {"host": socket.gethostname(), "pid": os.getpid(), "beat_at": DATABASE_NOW}

    def save(self, job_id, principal="", asset="", **documents):
        """Write the given documents of a job in one statement (the job is created on its first
        save), stamped with this process as its runner."""
        encoded = {name: json.dumps(value) for name, value in documents.items()
                   if name in DOCUMENTS}
        statement = insert(job_states).values(
            kind=self.kind, job_id=job_id, principal=principal or "", asset=asset or "",
            created_at=utc_now_iso(), **encoded, **self._runner())
        statement = statement.on_conflict_do_update(
            index_elements=["kind", "job_id"],
            set_={**{name: statement.excluded[name] for name in encoded},
                  **{name: statement.excluded[name] for name in ("host", "pid", "beat_at")}})
        with database.engine(self.target).begin() as connection:
            connection.execute(statement)

    def beat(self, job_id):
        """Say this process still runs the job (a long step writes no progress)."""
        with database.engine(self.target).begin() as connection:
            connection.execute(job_states.update().where(
                job_states.c.kind == self.kind, job_states.c.job_id == job_id)
                .values(**self._runner()))

    def get(self, job_id, with_summary=True):
        """{"meta", "state", "summary", "runner"} of a job, or None when there is none.

        The summary (a finished batch's outline, tens of kB) is left out of the progress poll.
        """
        found = self._select(job_states.c.job_id == job_id, with_summary=with_summary)
        return found[0] if found else None

    def rows(self, principal=None, asset=None, limit=None):
        """The jobs of this kind, newest first (of one principal or asset, when given), without
        their summaries."""
        conditions = []
        if principal is not None:
            conditions.append(job_states.c.principal == principal)
        if asset is not None:
            conditions.append(job_states.c.asset == asset)
        return self._select(*conditions, limit=limit, with_summary=False)

    def _select(self, *conditions, limit=None, with_summary=False):
        silent = (DATABASE_NOW - job_states.c.beat_at).label("silent")
        summary = job_states.c.summary if with_summary else sa.null().label("summary")
        query = (sa.select(job_states.c.meta, job_states.c.state, summary,
                           job_states.c.host, job_states.c.pid, silent)
                 .where(job_states.c.kind == self.kind, *conditions)
                 .order_by(job_states.c.created_at.desc()).limit(limit))
        with database.engine(self.target).connect() as connection:
            found = connection.execute(query).all()
        now = time.time()
        return [{"meta": json.loads(row.meta), "state": json.loads(row.state),
                 "summary": json.loads(row.summary) if row.summary else None,
                 # in this host's clock, for jobs.abandoned
                 "runner": {"host": row.host, "pid": row.pid, "updated_at": now - row.silent}}
                for row in found]
