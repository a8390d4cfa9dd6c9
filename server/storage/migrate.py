"""The schema's versions: Alembic migrations, run by the store itself when it opens.

Every table — cells and history as much as the sqlmodel metadata — is created and changed by a
revision in ``server/storage/migrations/versions``. Opening a store runs ``upgrade`` to the
newest revision in the store's own transaction (``Store.transaction``), so a database is either
wholly at the new version or untouched; no ``alembic.ini`` is needed (the configuration is made
here), and the ``alembic`` command is only for writing new revisions.

A database made before the migrations existed has tables and no ``alembic_version``: the first
revision is today's schema written so that it creates what is missing and leaves what is there
(``CREATE ... IF NOT EXISTS``, ``ADD COLUMN IF NOT EXISTS``), so such a database is upgraded in
place, through the same revisions as a new one, never recreated.

DuckDB through duckdb-engine: Alembic has no DuckDB dialect of its own, so ``DuckDBImpl`` below
tells it that DuckDB runs DDL in transactions (it does: a failed upgrade leaves nothing behind).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

SCRIPTS = Path(__file__).with_name("migrations")
_LOCK = 7_263_810_451  # pg_advisory_xact_lock key: one server process migrates at a time


class DuckDBImpl(DefaultImpl):
    __dialect__ = "duckdb"
    transactional_ddl = True


def _config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory(str(SCRIPTS)).get_current_head()
    assert revision is not None
    return revision


def current(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection) -> None:
    """Bring the database to the newest revision, inside the caller's transaction."""
    if connection.dialect.name == "postgresql":
        # two processes starting at once: the second waits, then finds nothing to do
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    if current(connection) == head():
        return  # the common case: no Alembic environment, no migration context to run
    command.upgrade(_config(connection), "head")


def downgrade(connection: sa.Connection, revision: str) -> None:
    """Back to ``revision`` (tests make older databases with it)."""
    command.downgrade(_config(connection), revision)
