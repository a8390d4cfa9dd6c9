"""PostgreSQL: the shared source of truth when several server processes serve one model.

Writes to a model serialize on its row in ``models`` (``SELECT ... FOR UPDATE``), so commit ids
rise in commit order within a model and the conflict check ("changed after my base commit?") is
exact even across processes. Batches are staged in temporary tables filled with COPY.

A database that cannot be reached — restarting, cut off, or too slow (``server.storage.pool``
bounds every wait) — is ``StorageUnavailable`` (503 with ``Retry-After``), a full disk is
``StorageFull`` (507). Either way the transaction is rolled back, unless the connection broke
while its COMMIT was under way: then nobody can say whether it was stored (``written: null``),
and the next read or write finds out (``Workspace.sync`` replays it into the engine if it was).
The store notes when the database went away and when it came back, in the log and for
``/api/health``.
"""

from __future__ import annotations

import io
import itertools
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

from server.errors import PlancubeError, StorageFull, StorageUnavailable
from server.storage import location, unit
from server.storage.pool import Pool
from server.storage.sql import SQL_TYPES, Columns, SqlStore

_PG_TYPES = {"string": "TEXT", "double": "DOUBLE PRECISION", "int64": "BIGINT"}

log = logging.getLogger(__name__)


class PostgresStore(SqlStore):
    shared = True

    def __init__(self, url: str, max_connections: int = 10) -> None:
        self.url = url
        self._pool = Pool(url, max_size=max_connections)
        self._names = itertools.count()
        self._down_since: float | None = None
        self._serving = False  # until then a failure is the one line start-up stops with
        self._local = threading.local()
        self._engine = unit.engine("postgresql")
        try:
            self._migrate()
        except StorageUnavailable as exc:
            raise StorageUnavailable(
                f"cannot reach PostgreSQL at {location.redact(url)}: {exc.details['reason']}",
                store="postgresql",
                reason=exc.details["reason"],
            ) from None
        self._serving = True

    def close(self) -> None:
        self._close_merger()
        self._pool.close()

    def ping(self) -> None:
        with self._begin() as cur:
            cur.execute("SELECT 1")

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")

    @contextmanager
    def _begin(self, model: str | None = None) -> Iterator[Any]:
        committing = False
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                if model is not None:
                    cur.execute("SELECT 1 FROM models WHERE name = %s FOR UPDATE", [model])
                yield cur
                committing = True  # the block is done: leaving ``transaction()`` commits
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise self._fault(exc, committing) from None
        except sa.exc.DBAPIError as exc:  # SQLAlchemy (a unit of work's metadata) wraps it
            if isinstance(exc.orig, psycopg.OperationalError | psycopg.InterfaceError):
                raise self._fault(exc.orig, committing) from None
            raise
        if self._down_since is not None:
            log.warning(
                "PostgreSQL at %s answers again, after %.1f s",
                location.redact(self.url),
                time.monotonic() - self._down_since,
            )
            self._down_since = None

    @contextmanager
    def _lock(self, cur: Any, model: str) -> Iterator[None]:
        cur.execute("SELECT 1 FROM models WHERE name = %s FOR UPDATE", [model])
        yield  # held until the transaction ends

    def _driver(self, cur: Any) -> Any:
        return cur.connection

    def _fault(self, exc: psycopg.Error, committing: bool) -> PlancubeError:
        """The error a client sees when the database failed the transaction."""
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = location.redact(self.url)
        if isinstance(exc, psycopg.errors.DiskFull):
            return StorageFull(
                f"PostgreSQL has no room left on its disk ({reason}); nothing was written",
                store="postgresql",
                reason=reason,
            )
        if self._down_since is None and self._serving:
            self._down_since = time.monotonic()
            log.warning("PostgreSQL at %s is unavailable: %s", where, reason)
        outcome = (
            "the connection broke while the commit was being confirmed, so it may or may not "
            "have been stored: re-send it (with the same base_commit and session it is applied "
            "at most once)"
            if committing
            else "nothing was written"
        )
        return StorageUnavailable(
            f"the database is unavailable ({reason}); {outcome}; retry in a few seconds",
            store="postgresql",
            reason=reason,
            written=None if committing else False,
            retry_after=StorageUnavailable.retry_after,
        )

    def _stage(self, cur: Any, rows: Sequence[Sequence[Any]], columns: Columns) -> str:
        name = f"staged_{next(self._names)}"
        cols = ", ".join(f"{c} {SQL_TYPES[k]}" for c, k in columns)
        cur.execute(f"CREATE TEMP TABLE {name} ({cols}) ON COMMIT DROP")
        with cur.copy(f"COPY {name} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return name

    def _stage_arrow(self, cur: Any, table: pa.Table) -> str:
        """An Arrow table into a temporary table by one CSV ``COPY`` (pyarrow writes the CSV:
        null unquoted and empty, an empty text quoted, floats in shortest round-trip form)."""
        name = f"staged_{next(self._names)}"
        cols = ", ".join(f"{f.name} {_PG_TYPES[str(f.type)]}" for f in table.schema)
        cur.execute(f"CREATE TEMP TABLE {name} ({cols}) ON COMMIT DROP")
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False))
        with cur.copy(f"COPY {name} FROM STDIN WITH (FORMAT csv)") as copy:
            view = buffer.getbuffer()
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])
        cur.execute(f"ANALYZE {name}")
        return name

    def _temp_as(self, cur: Any, select: str) -> str:
        name = f"work_{next(self._names)}"
        cur.execute(f"CREATE TEMP TABLE {name} ON COMMIT DROP AS {select}")
        cur.execute(f"ANALYZE {name}")
        return name

    def _drop_temp(self, cur: Any, table: str, staged: str) -> None:
        pass  # ON COMMIT DROP (a failed transaction can run nothing more)

    def _fetch_int64(self, cur: Any, sql: str) -> np.ndarray:
        buffer = io.BytesIO()
        with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
            for chunk in copy:
                buffer.write(chunk)
        if not buffer.tell():
            return np.zeros(0, dtype=np.int64)
        buffer.seek(0)
        table = pacsv.read_csv(
            buffer,
            pacsv.ReadOptions(column_names=["v"]),
            convert_options=pacsv.ConvertOptions(column_types={"v": pa.int64()}),
        )
        return np.asarray(table.column(0).to_numpy(), dtype=np.int64)

    def _fetch_arrow(self, cur: Any, sql: str, params: Sequence[Any]) -> pa.Table:
        cur.execute(sql, list(params))
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
        columns: list[list[Any]] = [[row[i] for row in rows] for i in range(len(names))]
        return pa.table(dict(zip(names, columns, strict=True)))
