"""Identity and access metadata (issue 11), and the unique keys of snapshots and holds.

The metadata tables are those of ``server.storage.metadata``. Snapshots get a unique
(model, name) and holds a unique (model, cube, author, addr), as unique indexes: DuckDB cannot
add a constraint to an existing table (``ALTER TABLE ... ADD CONSTRAINT`` is not supported), and
a unique index is the same guarantee on both stores. Rows that would break them are made
unique first: a repeated hold is one hold; a repeated snapshot name (two snapshots made at the
same moment) keeps its first and renames the others "name (2)", "name (3)".

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_text = sa.String


def _id() -> sa.Column:
    return sa.Column("id", _text(), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("issuer", _text(), nullable=False),
        sa.Column("subject", _text(), nullable=False),
        sa.Column("name", _text(), nullable=False),
        sa.Column("email", _text()),
        sa.Column("password_hash", _text()),
        sa.Column("server_admin", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _text(), nullable=False),
        sa.UniqueConstraint("issuer", "subject", name="users_identity"),
    )
    op.create_table(
        "groups",
        _id(),
        sa.Column("name", _text(), nullable=False, unique=True),
        sa.Column("external_id", _text(), unique=True),
        sa.Column("description", _text(), nullable=False),
        sa.Column("created_at", _text(), nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", _text(), primary_key=True),
        sa.Column("user_id", _text(), primary_key=True),
    )
    op.create_index("ix_group_members_user_id", "group_members", ["user_id"])
    op.create_table(
        "model_roles",
        sa.Column("model", _text(), primary_key=True),
        sa.Column("group_id", _text(), primary_key=True),
        sa.Column("role", _text(), nullable=False),
    )
    op.create_table(
        "element_rules",
        sa.Column("model", _text(), primary_key=True),
        sa.Column("dimension", _text(), primary_key=True),
        sa.Column("element", _text(), primary_key=True),
        sa.Column("group_id", _text(), primary_key=True),
        sa.Column("access", _text(), nullable=False),
    )
    op.create_table(
        "access_tokens",
        _id(),
        sa.Column("user_id", _text(), nullable=False),
        sa.Column("name", _text(), nullable=False),
        sa.Column("token_hash", _text(), nullable=False, unique=True),
        sa.Column("created_at", _text(), nullable=False),
        sa.Column("expires_at", _text()),
        sa.Column("last_used_at", _text()),
        sa.Column("revoked_at", _text()),
    )
    op.create_index("ix_access_tokens_user_id", "access_tokens", ["user_id"])
    op.create_table(
        "sessions",
        _id(),
        sa.Column("user_id", _text(), nullable=False),
        sa.Column("created_at", _text(), nullable=False),
        sa.Column("expires_at", _text(), nullable=False),
        sa.Column("last_seen_at", _text()),
        sa.Column("revoked_at", _text()),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "audit_log",
        _id(),
        sa.Column("occurred_at", _text(), nullable=False),
        sa.Column("actor", _text()),
        sa.Column("action", _text(), nullable=False),
        sa.Column("target", _text(), nullable=False),
        sa.Column("before", _text()),
        sa.Column("after", _text()),
    )
    op.create_index("ix_audit_log_occurred_at", "audit_log", ["occurred_at"])
    _unique_holds()
    _unique_snapshot_names()
    op.create_index("holds_key", "holds", ["model", "cube", "author", "addr"], unique=True)
    op.create_index("snapshots_key", "snapshots", ["model", "name"], unique=True)


def _unique_holds() -> None:
    rows = op.get_bind().execute(sa.text("SELECT * FROM holds")).fetchall()
    if len(set(rows)) < len(rows):
        _rebuild("holds", list(dict.fromkeys(rows)))


def _unique_snapshot_names() -> None:
    rows = (
        op.get_bind()
        .execute(sa.text("SELECT * FROM snapshots ORDER BY model, created_at, commit_id"))
        .fetchall()
    )
    taken = {(r[0], r[1]) for r in rows}
    if len(taken) == len(rows):
        return
    seen: set[tuple[str, str]] = set()
    fixed = []
    for model, name, *rest in rows:
        new, k = name, 1
        while (model, new) in seen or (new != name and (model, new) in taken):
            k += 1
            new = f"{name} ({k})"
        seen.add((model, new))
        fixed.append((model, new, *rest))
    _rebuild("snapshots", fixed)


_COLUMNS = {  # as revision 0001 made them
    "holds": "model TEXT NOT NULL, cube TEXT NOT NULL, author TEXT NOT NULL, addr TEXT NOT NULL",
    "snapshots": "model TEXT NOT NULL, name TEXT NOT NULL, commit_id BIGINT NOT NULL, "
    "author TEXT NOT NULL, created_at TEXT NOT NULL, description TEXT NOT NULL",
}


def _rebuild(table: str, rows: list[tuple[object, ...]]) -> None:
    """Replace a table's rows with ``rows`` by making it anew: on DuckDB the rows a transaction
    deletes still count for a unique index it creates (``Data contains duplicates``), so
    deleting the repeats in place is not enough."""
    bind = op.get_bind()
    op.execute(f"CREATE TABLE {table}_unique ({_COLUMNS[table]})")
    if rows:
        marks = ", ".join(f":c{i}" for i in range(len(rows[0])))
        bind.execute(
            sa.text(f"INSERT INTO {table}_unique VALUES ({marks})"),
            [{f"c{i}": v for i, v in enumerate(r)} for r in rows],
        )
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE {table}_unique RENAME TO {table}")


def downgrade() -> None:
    op.drop_index("snapshots_key", "snapshots")
    op.drop_index("holds_key", "holds")
    for table in (
        "audit_log",
        "sessions",
        "access_tokens",
        "element_rules",
        "model_roles",
        "group_members",
        "groups",
        "users",
    ):
        op.drop_table(table)
