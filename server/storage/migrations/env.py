"""Alembic's entry point: always given the store's connection, in the store's transaction."""

from alembic import context

from server.storage.metadata import SQLModel

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata)
with context.begin_transaction():
    context.run_migrations()
