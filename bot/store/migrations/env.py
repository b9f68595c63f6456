"""Alembic's environment: always run by :func:`bot.store.schema.upgrade` on a connection it holds."""

from __future__ import annotations

from alembic import context

from bot.store.schema import VERSION_TABLE
from bot.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection, target_metadata=metadata, render_as_batch=True, version_table=VERSION_TABLE
)
with context.begin_transaction():
    context.run_migrations()
