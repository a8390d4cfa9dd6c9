"""The embedded default: one DuckDB file, one server process.

DuckDB allows one process per file, so writes are serialized by a process lock and each
operation runs on its own cursor (a cheap connection to the same database instance). Batches are
staged as Arrow tables registered as views, which DuckDB scans without copying. A file another
process holds is a one-line ``StoreInUse`` naming that process (``holder``); with
``create=False`` a missing file is ``StoreNotFound`` and nothing is created.

A file the server cannot write (read-only, on a read-only file system, in a directory it may not
create) stops start-up with one line naming the file and the problem. A write the disk has no
room for — or one past a file size limit (``ulimit -f``; ``plancube serve`` ignores SIGXFSZ so
that is an error, not the end of the process) — is ``StorageFull`` (507), any other failure to
write the file ``StorageUnavailable`` (503): DuckDB rolls the transaction back whole, and the
commit is never applied to the engine, so views show what storage holds.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from server.errors import PlancubeError, StorageFull, StorageUnavailable, StoreNotFound
from server.storage import holder, unit
from server.storage.sql import Columns, SqlStore

log = logging.getLogger(__name__)
_ARROW = {"text": pa.string(), "float": pa.float64(), "int": pa.int64()}


class DuckDBStore(SqlStore):
    shared = False

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        if not create and not self.path.exists():
            raise StoreNotFound(f"no database at {self.path}", path=str(self.path))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = duckdb.connect(str(self.path))
        except OSError as exc:
            raise self._unopenable(exc.strerror or str(exc)) from None
        except duckdb.IOException as exc:
            if "lock" not in str(exc):
                raise self._unopenable(_reason(exc)) from None
            raise holder.in_use(self.path, str(exc)) from None
        self._write_lock = threading.RLock()
        self._names = itertools.count()
        self._local = threading.local()
        self._engine = unit.engine("duckdb")
        self._migrate()

    def _unopenable(self, reason: str) -> StorageUnavailable:
        return StorageUnavailable(
            f"cannot open the database {self.path} for writing: {reason} (the server needs to "
            "write the file and create files beside it)",
            path=str(self.path),
            reason=reason,
        )

    def close(self) -> None:
        self._close_merger()
        try:
            self._db.close()
        except duckdb.Error as exc:  # the last checkpoint found the disk full: the WAL keeps all
            log.warning(
                "closing %s: %s (its write-ahead log still holds every commit)",
                self.path,
                _reason(exc),
            )

    def ping(self) -> None:
        with self._begin() as cur:
            cur.execute("SELECT 1")

    @contextmanager
    def _begin(self, model: str | None = None) -> Iterator[Any]:
        cur = self._db.cursor()
        lock = self._write_lock if model is not None else None
        if lock:
            lock.acquire()
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                _rollback(cur)
                raise
            cur.execute("COMMIT")  # a failed COMMIT is rolled back by DuckDB itself
        except (duckdb.Error, sa.exc.DBAPIError) as exc:
            # SQLAlchemy (a unit of work's metadata) wraps what DuckDB raised
            cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
            fault = self._fault(cause) if isinstance(cause, duckdb.Error) else None
            if fault is None:
                raise
            raise fault from None
        finally:
            if lock:
                lock.release()
            cur.close()

    @contextmanager
    def _lock(self, cur: Any, model: str) -> Iterator[None]:
        with self._write_lock:  # re-entrant: a unit of work for the model holds it already
            yield

    def _driver(self, cur: Any) -> Any:
        return cur  # a DuckDB cursor is a connection of its own

    def _fault(self, exc: duckdb.Error) -> PlancubeError | None:
        """The error a client sees for a failure to write the file (None: not one)."""
        text = str(exc)
        reason = _reason(exc)
        if any(m in text for m in _FULL):
            return StorageFull(
                f"no room to write the database {self.path}: {reason}; nothing was written. "
                "Free some disk space (or raise the file size limit) and write again",
                path=str(self.path),
                reason=reason,
            )
        if isinstance(exc, duckdb.IOException | duckdb.FatalException) or "invalidated" in text:
            return StorageUnavailable(
                f"cannot write the database {self.path}: {reason}; nothing was written"
                + (" (restart the server)" if "invalidated" in text else ""),
                path=str(self.path),
                reason=reason,
                written=False,
            )
        return None

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

    def _stage_arrow(self, cur: Any, table: pa.Table) -> str:
        name = f"staged_{next(self._names)}"
        cur.register(name, table)
        return name

    def _temp_as(self, cur: Any, select: str) -> str:
        name = f"work_{next(self._names)}"
        cur.execute(f"CREATE TEMP TABLE {name} AS {select}")
        return name

    def _drop_temp(self, cur: Any, table: str, staged: str) -> None:
        with suppress(duckdb.Error):  # a failed statement may have ended the transaction
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.unregister(staged)

    def _fetch_int64(self, cur: Any, sql: str) -> np.ndarray:
        column = self._fetch_arrow(cur, sql, []).column(0)
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)

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


# how DuckDB words ENOSPC and EFBIG (a file past RLIMIT_FSIZE) in its errors
_FULL = ("No space left on device", "File too large", "Disk quota exceeded")


def _reason(exc: duckdb.Error) -> str:
    """DuckDB's message without its class prefix ("IO Error: ...") and the file it names."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rsplit('": ', 1)[-1] if '": ' in text else text.split(": ", 1)[-1]


def _rollback(cur: Any) -> None:
    """Roll back, unless DuckDB already has (a failed statement can end the transaction): the
    error the caller sees is the one that made it fail."""
    with suppress(duckdb.Error):
        cur.execute("ROLLBACK")


class _Rows:
    """A fully read result with the DB-API fetch methods the shared SQL uses."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchall(self) -> list[Any]:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None
