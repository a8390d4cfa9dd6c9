"""The embedded default: one DuckDB file, one server process.

DuckDB allows one process per file, so writes are serialized by a process lock and each
operation runs on its own cursor (a cheap connection to the same database instance). Batches are
staged as Arrow tables registered as views, which DuckDB scans without copying. A file another
process holds is a one-line ``StoreInUse`` naming that process (``holder``); with
``create=False`` a missing file is ``StoreNotFound`` and nothing is created.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from server.errors import StoreNotFound
from server.storage import holder
from server.storage.sql import Columns, SqlStore

_ARROW = {"text": pa.string(), "float": pa.float64(), "int": pa.int64()}


class DuckDBStore(SqlStore):
    shared = False

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        if not create and not self.path.exists():
            raise StoreNotFound(f"no database at {self.path}", path=str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc):
                raise
            raise holder.in_use(self.path, str(exc)) from None
        self._write_lock = threading.RLock()
        self._names = itertools.count()
        self._create_schema()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self, model: str | None = None) -> Iterator[Any]:
        cur = self._db.cursor()
        lock = self._write_lock if model is not None else None
        if lock:
            lock.acquire()
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        finally:
            if lock:
                lock.release()
            cur.close()

    def _exec(self, cur: Any, text: str, params: Sequence[Any] = ()) -> Any:
        # DuckDB refuses other work on a cursor with an unfinished result: read it all now.
        cur.execute(text, list(params))
        return _Rows(cur.fetchall() if cur.description else [])

    def _stage(self, cur: Any, rows: Sequence[Sequence[Any]], columns: Columns) -> str:
        name = f"staged_{next(self._names)}"
        arrays = {
            col: pa.array([r[i] for r in rows], type=_ARROW[kind])
            for i, (col, kind) in enumerate(columns)
        }
        cur.register(name, pa.table(arrays))
        return name

    def _rows(
        self, cur: Any, rows: Sequence[Sequence[Any]], columns: Columns
    ) -> tuple[str, list[Any]]:
        # an Arrow view costs DuckDB less than binding a parameter per value
        return self._stage(cur, rows, columns), []

    def _fetch_arrow(self, cur: Any, sql: str, params: Sequence[Any]) -> pa.Table:
        relation = cur.sql(sql, params=list(params))
        table: pa.Table = (
            relation.to_arrow_table() if hasattr(relation, "to_arrow_table") else relation.arrow()
        )
        return table


class _Rows:
    """A fully read result with the DB-API fetch methods the shared SQL uses."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchall(self) -> list[Any]:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None
