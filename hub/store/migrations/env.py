"""Alembic's entry for the event store's migrations (run by :func:`hub.store.migrate.migrate`).

The hub hands Alembic an open connection (``config.attributes["connection"]``), already holding
the append lock on PostgreSQL, so nodes that start together migrate once. Revisions describe
their tables in full; nothing here imports the modules that use them.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
