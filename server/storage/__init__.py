"""Durable storage behind one protocol: ``open_store`` picks DuckDB or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

from server.storage.base import (
    CellChange,
    CommitInfo,
    CommitRequest,
    CommitResult,
    ConflictCell,
    HistoryRow,
    ModelRow,
    SnapshotRow,
    Store,
    StoreBaseAhead,
    StoreConflict,
    StoreSnapshotExists,
    address,
    elements_of,
)
from server.storage.batch import CellBatch


def open_store(url: str | Path, *, create: bool = True) -> Store:
    """``postgresql://...`` opens PostgreSQL; anything else is a DuckDB file path.

    ``create=False`` is for commands that only read: a DuckDB file that does not exist is then
    ``StoreNotFound`` instead of a new, empty database.
    """
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        from server.storage.postgres_store import PostgresStore

        return PostgresStore(text)
    from server.storage.duckdb_store import DuckDBStore

    return DuckDBStore(text.removeprefix("duckdb://"), create=create)


__all__ = [
    "CellBatch",
    "CellChange",
    "CommitInfo",
    "CommitRequest",
    "CommitResult",
    "ConflictCell",
    "HistoryRow",
    "ModelRow",
    "SnapshotRow",
    "Store",
    "StoreBaseAhead",
    "StoreConflict",
    "StoreSnapshotExists",
    "address",
    "elements_of",
    "open_store",
]
