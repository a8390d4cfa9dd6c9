"""PostgreSQL: the shared source of truth when several server processes serve one model.

Writes to a model serialize on its row in ``models`` (``SELECT ... FOR UPDATE``), so commit ids
rise in commit order within a model and the conflict check ("changed after my base commit?") is
exact even across processes. Batches are staged in temporary tables filled with COPY.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
from psycopg_pool import ConnectionPool

from server.storage.sql import SQL_TYPES, Columns, SqlStore

_INDEXES = [
    "CREATE INDEX IF NOT EXISTS cell_history_cell ON cell_history (model, cube, addr)",
    "CREATE INDEX IF NOT EXISTS cell_history_commit ON cell_history (model, commit_id)",
    "CREATE INDEX IF NOT EXISTS cells_cube ON cells (model, cube)",
    "CREATE INDEX IF NOT EXISTS elements_dim ON elements (model, dimension)",
    "CREATE INDEX IF NOT EXISTS edges_dim ON edges (model, dimension)",
    "CREATE INDEX IF NOT EXISTS commits_model ON commits (model, id)",
]


class PostgresStore(SqlStore):
    shared = True

    def __init__(self, url: str, max_connections: int = 10) -> None:
        self.url = url
        self._pool = ConnectionPool(url, min_size=1, max_size=max_connections, open=True)
        self._names = itertools.count()
        self._create_schema(_INDEXES)

    def close(self) -> None:
        self._pool.close()

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")

    @contextmanager
    def _transaction(self, model: str | None = None) -> Iterator[Any]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if model is not None:
                cur.execute("SELECT 1 FROM models WHERE name = %s FOR UPDATE", [model])
            yield cur

    def _stage(self, cur: Any, rows: Sequence[Sequence[Any]], columns: Columns) -> str:
        name = f"staged_{next(self._names)}"
        cols = ", ".join(f"{c} {SQL_TYPES[k]}" for c, k in columns)
        cur.execute(f"CREATE TEMP TABLE {name} ({cols}) ON COMMIT DROP")
        with cur.copy(f"COPY {name} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return name

    def _fetch_arrow(self, cur: Any, sql: str, params: Sequence[Any]) -> pa.Table:
        cur.execute(sql, list(params))
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
        columns: list[list[Any]] = [[row[i] for row in rows] for i in range(len(names))]
        return pa.table(dict(zip(names, columns, strict=True)))
