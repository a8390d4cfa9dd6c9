"""One unit of work: metadata and cells changed in one database transaction.

``with store.transaction() as tx:`` opens one transaction on the store's own connection — the
DuckDB cursor, or a connection from the PostgreSQL pool (``server.storage.pool``, with its bounded
waits and its 503 mapping) — and everything inside it joins that transaction:

- the store's own methods (``create_model``, ``save_dimension``, ``commit`` …) called on the same
  thread run on its cursor instead of opening their own transaction, so cells keep their
  Arrow/SQL path and are committed or rolled back with the rest;
- ``tx.session`` is a sqlmodel ``Session`` for the metadata tables (``server.storage.metadata``),
  bound to a SQLAlchemy connection that *is* the store's connection, lent for the one
  transaction (``_Lent``): the store begins, commits and rolls back; SQLAlchemy's own begin,
  commit, rollback and close do nothing to it. On DuckDB this is the only way to share a
  transaction at all (a DuckDB transaction belongs to one cursor, and one process owns the file);
  on PostgreSQL it keeps one connection per unit of work.

Inside a unit of work call the store itself (``store.commit``), not the services' group commit
(``server.services.cells.submit``): that commits on another thread, outside this transaction,
and would wait for the model lock this one holds.

The SQLAlchemy side is made on first use, so the cell write path pays nothing for it. On DuckDB
SQLAlchemy and the cell SQL share one cursor: read a metadata query's rows (``.all()``,
``.first()``) before running cell SQL, as DuckDB drops an unfinished result when the cursor
runs the next statement.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from sqlmodel import Session


class Transaction:
    """The open unit of work: ``cursor`` for SQL, ``session`` for metadata."""

    def __init__(self, engine: sa.Engine, cursor: Any, connection: Any) -> None:
        self.cursor = cursor
        self._engine = engine
        self._driver = connection  # the DB-API connection under the cursor
        self._connection: sa.Connection | None = None
        self._session: Session | None = None

    @property
    def connection(self) -> sa.Connection:
        if self._connection is None:
            _lending.driver = self._driver
            try:
                self._connection = self._engine.connect()
            finally:
                _lending.driver = None
            self._connection.begin()  # a no-op on the database: the store has begun
        return self._connection

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(bind=self.connection, autoflush=True)
        return self._session

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        if self._connection is not None:
            self._connection.close()


_lending = threading.local()  # the connection being lent, read by the engine's creator


class _Lent:
    """The store's connection, lent to SQLAlchemy for one transaction."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    # the transaction and the connection are the store's
    def begin(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...
    def add_notice_handler(self, handler: Any) -> None: ...  # psycopg: one would pile up per lend


def engine(dialect: str) -> sa.Engine:
    """An engine whose every connection is the one being lent (``Transaction.connection``)."""
    wrap: Any
    if dialect == "duckdb":
        from duckdb_engine import ConnectionWrapper

        def wrap(conn: Any) -> Any:
            return ConnectionWrapper(_Lent(conn))  # type: ignore[arg-type]

        url, options = "duckdb://", {}
    else:
        wrap, url, options = _Lent, "postgresql+psycopg://", {"use_native_hstore": False}

    def creator() -> Any:
        return wrap(_lending.driver)

    return sa.create_engine(url, creator=creator, poolclass=NullPool, **options)
