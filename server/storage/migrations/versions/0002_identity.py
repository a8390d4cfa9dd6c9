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
    bind = op.get_bind()
    repeated = bind.execute(
        sa.text(
            "SELECT COUNT(*) FROM (SELECT 1 FROM holds GROUP BY model, cube, author, addr "
            "HAVING COUNT(*) > 1) AS d"
        )
    ).scalar()
    if repeated:
        op.execute("CREATE TEMP TABLE holds_once AS SELECT DISTINCT * FROM holds")
        op.execute("DELETE FROM holds")
        op.execute("INSERT INTO holds SELECT * FROM holds_once")
        op.execute("DROP TABLE holds_once")


def _unique_snapshot_names() -> None:
    bind = op.get_bind()
    repeated = bind.execute(
        sa.text("SELECT model, name FROM snapshots GROUP BY model, name HAVING COUNT(*) > 1")
    ).fetchall()
    for model, name in repeated:
        key = {"m": model, "n": name}
        rows = bind.execute(
            sa.text(
                "SELECT commit_id, author, created_at, description FROM snapshots "
                "WHERE model = :m AND name = :n ORDER BY created_at, commit_id"
            ),
            key,
        ).fetchall()
        taken = {
            r[0] for r in bind.execute(sa.text("SELECT name FROM snapshots WHERE model = :m"), key)
        }
        bind.execute(sa.text("DELETE FROM snapshots WHERE model = :m AND name = :n"), key)
        for k, row in enumerate(rows, start=1):
            new = name
            while k > 1 and new in taken:
                new = f"{name} ({k})"
                k += 1
            taken.add(new)
            bind.execute(
                sa.text("INSERT INTO snapshots VALUES (:m, :n, :c, :a, :t, :d)"),
                {"m": model, "n": new, "c": row[0], "a": row[1], "t": row[2], "d": row[3]},
            )


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
