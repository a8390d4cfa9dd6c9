"""The schema as the code on main made it before migrations: models, structure, cells, history.

Written to be run on a database that already has some or all of it (``IF NOT EXISTS`` throughout),
so a database made before Alembic is upgraded in place through this revision (see
``server.storage.migrate``). Frozen: later changes are later revisions.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = [
    "CREATE SEQUENCE IF NOT EXISTS commit_seq START 1",
    """CREATE TABLE IF NOT EXISTS models (
        name TEXT PRIMARY KEY, description TEXT NOT NULL, created_at TEXT NOT NULL,
        head BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS dimensions (
        model TEXT NOT NULL, name TEXT NOT NULL, position INTEGER NOT NULL, role TEXT,
        description TEXT NOT NULL, attributes TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS elements (
        model TEXT NOT NULL, dimension TEXT NOT NULL, name TEXT NOT NULL,
        position INTEGER NOT NULL, type TEXT NOT NULL, attributes TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS edges (
        model TEXT NOT NULL, dimension TEXT NOT NULL, parent TEXT NOT NULL, child TEXT NOT NULL,
        position INTEGER NOT NULL, weight DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS cubes (
        model TEXT NOT NULL, name TEXT NOT NULL, position INTEGER NOT NULL,
        dimensions TEXT NOT NULL, description TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS rules (
        model TEXT NOT NULL, cube TEXT NOT NULL, name TEXT NOT NULL, position INTEGER NOT NULL,
        target TEXT NOT NULL, formula TEXT NOT NULL, scope TEXT NOT NULL)""",
    # added after the first release: a rule's level (leaf or consolidated); NULL reads as leaf
    "ALTER TABLE rules ADD COLUMN IF NOT EXISTS level TEXT DEFAULT 'leaf'",
    """CREATE TABLE IF NOT EXISTS holds (
        model TEXT NOT NULL, cube TEXT NOT NULL, author TEXT NOT NULL, addr TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS commits (
        id BIGINT PRIMARY KEY, model TEXT NOT NULL, author TEXT NOT NULL,
        created_at TEXT NOT NULL, message TEXT NOT NULL, source TEXT NOT NULL,
        cells INTEGER NOT NULL, reverts BIGINT)""",
    # added later: the writer's session (see _check_base); NULL for commits made without one
    "ALTER TABLE commits ADD COLUMN IF NOT EXISTS session TEXT",
    # ``key`` is model, cube and addr joined by \x1f: one text primary key, because DuckDB only
    # answers single-column key lookups from its index (a composite key scans the table).
    """CREATE TABLE IF NOT EXISTS cells (
        key TEXT PRIMARY KEY, model TEXT NOT NULL, cube TEXT NOT NULL, addr TEXT NOT NULL,
        num DOUBLE PRECISION, txt TEXT, commit_id BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS cell_history (
        commit_id BIGINT NOT NULL, model TEXT NOT NULL, cube TEXT NOT NULL, addr TEXT NOT NULL,
        old_num DOUBLE PRECISION, old_txt TEXT, new_num DOUBLE PRECISION, new_txt TEXT)""",
    """CREATE TABLE IF NOT EXISTS snapshots (
        model TEXT NOT NULL, name TEXT NOT NULL, commit_id BIGINT NOT NULL, author TEXT NOT NULL,
        created_at TEXT NOT NULL, description TEXT NOT NULL)""",
]

# PostgreSQL only: on DuckDB an index on these tables slows every commit more than it helps
PG_INDEXES = [
    "CREATE INDEX IF NOT EXISTS cell_history_cell ON cell_history (model, cube, addr)",
    "CREATE INDEX IF NOT EXISTS cell_history_commit ON cell_history (model, commit_id)",
    "CREATE INDEX IF NOT EXISTS cells_cube ON cells (model, cube)",
    "CREATE INDEX IF NOT EXISTS elements_dim ON elements (model, dimension)",
    "CREATE INDEX IF NOT EXISTS edges_dim ON edges (model, dimension)",
    "CREATE INDEX IF NOT EXISTS commits_model ON commits (model, id)",
]


def upgrade() -> None:
    statements = [*SCHEMA, *(PG_INDEXES if op.get_bind().dialect.name == "postgresql" else [])]
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the first revision is not undone: it holds every cell")
