"""Alembic environment: migrations run on the connection handed over by webapp.services.schema."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Two `db upgrade` at once (two instances starting): the second waits, then finds
        # nothing left to do.
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(1313131313)")
    context.run_migrations()
