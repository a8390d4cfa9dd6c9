"""Migrations: a database made by the code before Alembic is upgraded in place, on both stores.

``MAIN_SCHEMA`` is the schema as ``server/storage/sql.py`` created it at commit 977c1fc (the last
one before migrations), kept here as data: the test makes a database with it, fills it as that
code did, and opens it with today's store.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import psycopg
import pytest
import sqlalchemy as sa

from server.storage import CellChange, StoreSnapshotExists, migrate, open_store
from server.storage.metadata import SQLModel

MAIN_SCHEMA = [
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

MAIN_PG_INDEXES = [
    "CREATE INDEX IF NOT EXISTS cell_history_cell ON cell_history (model, cube, addr)",
    "CREATE INDEX IF NOT EXISTS cell_history_commit ON cell_history (model, commit_id)",
    "CREATE INDEX IF NOT EXISTS cells_cube ON cells (model, cube)",
    "CREATE INDEX IF NOT EXISTS elements_dim ON elements (model, dimension)",
    "CREATE INDEX IF NOT EXISTS edges_dim ON edges (model, dimension)",
    "CREATE INDEX IF NOT EXISTS commits_model ON commits (model, id)",
]
T = "2026-01-01T00:00:00.000000Z"
# what the old code stored: a model, two commits, their history and cells, snapshots and holds
# (a repeated hold and a repeated snapshot name, which its missing unique keys let in)
ROWS = [
    "INSERT INTO models VALUES ('m', 'old', '2026-01-01T00:00:00.000000Z', 2)",
    "INSERT INTO dimensions VALUES ('m', 'Item', 0, NULL, '', '{}')",
    "INSERT INTO elements VALUES ('m', 'Item', 'a', 0, 'numeric', '{}')",
    "INSERT INTO elements VALUES ('m', 'Item', 'b', 1, 'numeric', '{}')",
    "INSERT INTO cubes VALUES ('m', 'C', 0, '[\"Item\"]', '')",
    "INSERT INTO rules VALUES ('m', 'C', 'r', 0, 'b', '=a*2', '{}', 'leaf')",
    "SELECT nextval('commit_seq')",
    "SELECT nextval('commit_seq')",
    f"INSERT INTO commits VALUES (1, 'm', 'ann', '{T}', 'first', 'web', 1, NULL, NULL)",
    f"INSERT INTO commits VALUES (2, 'm', 'bob', '{T}', 'second', 'api', 1, NULL, 's1')",
    "INSERT INTO cell_history VALUES (1, 'm', 'C', 'a', NULL, NULL, 1.0, NULL)",
    "INSERT INTO cell_history VALUES (2, 'm', 'C', 'a', 1.0, NULL, 5.0, NULL)",
    "INSERT INTO cells VALUES ('m\x1fC\x1fa', 'm', 'C', 'a', 5.0, NULL, 2)",
    f"INSERT INTO snapshots VALUES ('m', 'v1', 1, 'ann', '{T}', 'first')",
    "INSERT INTO snapshots VALUES ('m', 'v1', 2, 'bob', '2026-01-02T00:00:00.000000Z', 'again')",
    "INSERT INTO holds VALUES ('m', 'C', 'ann', 'a')",
    "INSERT INTO holds VALUES ('m', 'C', 'ann', 'a')",
]


@contextmanager
def _raw(url: str) -> Iterator[Any]:
    """A plain DB-API connection, committing at the end, as the old code had."""
    if url.startswith("postgresql"):
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn
        return
    conn = duckdb.connect(url)
    try:
        yield conn
    finally:
        conn.close()


def _make_main_database(url: str) -> None:
    with _raw(url) as conn:
        pg = url.startswith("postgresql")
        for statement in [*MAIN_SCHEMA, *(MAIN_PG_INDEXES if pg else []), *ROWS]:
            conn.execute(statement.replace("\\x1f", "\x1f") if pg else statement)


def test_a_database_made_before_migrations_is_upgraded_in_place(store_url: str) -> None:
    _make_main_database(store_url)
    store = open_store(store_url)
    try:
        with store.transaction() as tx:
            assert migrate.current(tx.connection) == migrate.head()
        assert [(m.name, m.head) for m in store.list_models()] == [("m", 2)]
        dims, cubes = store.load_structure("m")
        assert [e.name for e in dims[0].elements] == ["a", "b"]
        assert [r.formula for r in cubes[0].rules] == ["=a*2"]
        assert [c.id for c in store.list_commits("m")] == [2, 1]
        assert [(h.commit.id, h.new_num) for h in store.cell_history("m", "C", "a")] == [
            (1, 1.0),
            (2, 5.0),
        ]
        assert store.load_cells("m", "C").to_pylist() == [{"addr": "a", "num": 5.0, "txt": None}]
        # the repeated snapshot name keeps its first, the other is renamed; the hold is one
        assert [(s.name, s.commit_id) for s in store.list_snapshots("m")] == [
            ("v1", 1),
            ("v1 (2)", 2),
        ]
        assert store.list_holds("m", "C", "ann") == ["a"]
        # the sequence carries on, and the old session column is there
        result = store.commit(
            "m", [CellChange("C", "a", 6.0)], author="ann", message="", source="web"
        )
        assert result.head == 3
    finally:
        store.close()
    store = open_store(store_url)  # and opening it again changes nothing
    try:
        assert store.head("m") == 3
    finally:
        store.close()


def test_snapshots_and_holds_have_their_unique_keys(store_url: str) -> None:
    store = open_store(store_url)
    try:
        store.create_model("m", "")
        store.create_snapshot("m", "v1", 0, "ann", "")
        with pytest.raises(StoreSnapshotExists):  # the store checks first, under the lock
            store.create_snapshot("m", "v1", 0, "ann", "")
        for _ in range(3):  # set again: still one hold (delete and insert in one transaction)
            store.set_hold("m", "C", "ann", "a", True)
        with store.transaction() as tx:
            tx.cursor.execute("SELECT COUNT(*) FROM holds")
            assert tx.cursor.fetchone()[0] == 1
            with pytest.raises(Exception, match=r"(?i)duplicate|unique|constraint"):
                tx.cursor.execute("INSERT INTO holds VALUES ('m', 'C', 'ann', 'a')")
        with store.transaction() as tx, pytest.raises(Exception, match=r"(?i)duplicate|unique"):
            # and the key itself, past the check
            tx.cursor.execute("INSERT INTO snapshots VALUES ('m', 'v1', 0, 'bob', 'x', '')")
    finally:
        store.close()


def test_the_migrated_tables_are_the_declared_ones(store_url: str) -> None:
    """Every sqlmodel table exists with the declared columns and nullability (read from
    information_schema: SQLAlchemy's reflection does not work on DuckDB, see architecture.md)."""
    store = open_store(store_url)
    try:
        with store.transaction() as tx:
            for table in SQLModel.metadata.sorted_tables:
                rows = tx.connection.execute(
                    sa.text(
                        "SELECT column_name, is_nullable FROM information_schema.columns "
                        "WHERE table_name = :t AND table_schema = current_schema()"
                    ),
                    {"t": table.name},
                ).all()
                stored = {name: nullable == "YES" for name, nullable in rows}
                declared = {c.name: bool(c.nullable) for c in table.columns}
                assert stored == declared, table.name
    finally:
        store.close()


def test_a_database_at_0002_gets_the_sign_in_columns(store_url: str) -> None:
    """Revision 0003 adds the local sign-in state to the users a 0002 database has."""
    from server.auth import accounts, hashing

    store = open_store(store_url)
    with store.transaction() as tx:
        migrate.downgrade(tx.connection, "0002")
        tx.connection.execute(
            sa.text(
                "INSERT INTO users (id, issuer, subject, name, email, password_hash, "
                "server_admin, disabled, created_at) VALUES "
                "('u1', 'local', 'ann', 'Ann', NULL, :hash, false, false, :t)"
            ),
            {"hash": hashing.hash_password("correct horse battery"), "t": T},
        )
    store.close()
    store = open_store(store_url)
    try:
        with store.transaction() as tx:
            assert migrate.current(tx.connection) == migrate.head()
            row = tx.connection.execute(
                sa.text("SELECT failed_signins, locked_until, last_signin_at FROM users")
            ).one()
        assert tuple(row) == (0, None, None)
        assert accounts.verify_password(store, "ann", "correct horse battery").id == "u1"
        assert accounts.get_user(store, "u1").last_signin_at is not None  # type: ignore[union-attr]
    finally:
        store.close()
