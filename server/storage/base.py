"""The Store protocol: what the server needs from durable storage, and the records it trades in.

Two implementations sit behind it — DuckDB (one file, the embedded default) and PostgreSQL (shared
by several server processes) — and one test suite runs against both. Storage is the source of
truth: the engine is rebuilt from it at start-up, so a write is acknowledged only after its commit
is durable.

Cells are stored by *address*: the element names of a leaf cell in the cube's dimension order,
joined by a tab (element names cannot contain control characters). Clearing a cell keeps its row
with both values NULL, so "changed since commit N" is one lookup even for cleared cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from server.modeldef import CubeDef, DimensionDef
from server.storage.unit import Transaction

if TYPE_CHECKING:
    from server.storage.batch import CellBatch

SEPARATOR = "\t"


def address(elements: Sequence[str]) -> str:
    return SEPARATOR.join(elements)


def elements_of(addr: str) -> list[str]:
    return addr.split(SEPARATOR)


@dataclass(frozen=True, slots=True)
class ModelRow:
    name: str
    description: str
    created_at: str
    head: int


@dataclass(frozen=True, slots=True)
class CommitInfo:
    id: int
    model: str
    author: str
    created_at: str
    message: str
    source: str
    cells: int
    reverts: int | None = None


@dataclass(frozen=True, slots=True)
class CellChange:
    """A new value for one leaf cell. Both values None clears the cell."""

    cube: str
    addr: str
    num: float | None = None
    txt: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryRow:
    commit: CommitInfo
    cube: str
    addr: str
    old_num: float | None
    old_txt: str | None
    new_num: float | None
    new_txt: str | None


@dataclass(frozen=True, slots=True)
class ConflictCell:
    """A target cell that another writer (session) changed after the writer's base commit."""

    cube: str
    addr: str
    num: float | None
    txt: str | None
    commit_id: int
    author: str
    created_at: str


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What a write did: the new commit (None when nothing changed), and the model head after it."""

    commit: CommitInfo | None
    head: int
    changes: list[CellChange] | CellBatch  # the cells that changed (a batch for a batch)
    # on a shared store: the head just before this commit, read under the model's lock, so a
    # replica can tell whether another process committed since it last caught up
    previous_head: int | None = None


@dataclass(frozen=True, slots=True)
class CommitRequest:
    """One writer's batch, as it goes into a group commit (see ``Store.commit_many``)."""

    changes: Sequence[CellChange] | CellBatch
    author: str
    message: str
    source: str
    base: int | None = None
    session: str | None = None
    reverts: int | None = None


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    name: str
    commit_id: int
    author: str
    created_at: str
    description: str


class StoreConflict(Exception):
    def __init__(self, cells: list[ConflictCell]) -> None:
        super().__init__(f"{len(cells)} cell(s) changed since the base commit")
        self.cells = cells


class StoreSnapshotExists(Exception):
    """The model already has a snapshot of that name (checked under the model's write lock)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a snapshot {name!r} exists")
        self.name = name


class StoreBaseAhead(Exception):
    """The writer's base commit is after the model's head: no client can have seen it."""

    def __init__(self, base: int, head: int) -> None:
        super().__init__(f"base commit {base} is after the head commit {head}")
        self.base = base
        self.head = head


class Store(Protocol):
    """Durable models, cells, commits and snapshots."""

    url: str
    shared: bool  # True when other processes may commit to the same storage

    def close(self) -> None: ...
    def transaction(self, model: str | None = None) -> AbstractContextManager[Transaction]:
        """One unit of work: store calls on this thread and ``tx.session`` (metadata) inside it
        commit or roll back together (``server.storage.unit``)."""
        ...

    def ping(self) -> None:
        """Return if the database answers; else raise ``StorageUnavailable``."""
        ...

    # -- models and structure --------------------------------------------------------------
    def list_models(self) -> list[ModelRow]: ...
    def get_model(self, name: str) -> ModelRow | None: ...
    def create_model(self, name: str, description: str) -> ModelRow: ...
    def delete_model(self, name: str) -> None: ...
    def replace_model(self, name: str, description: str) -> ModelRow:
        """Clear the model's structure and holds, keep its commits, history and snapshots."""
        ...

    def head(self, model: str) -> int: ...
    def load_structure(self, model: str) -> tuple[list[DimensionDef], list[CubeDef]]: ...
    def save_dimension(self, model: str, dim: DimensionDef) -> None: ...
    def delete_dimension(self, model: str, name: str) -> None: ...
    def save_cube(self, model: str, cube: CubeDef) -> None: ...
    def delete_cube(self, model: str, name: str) -> None: ...

    def refresh_sql_views(self) -> list[str]:
        """Create (again) the SQL view of every cube (``server.storage.sql_views``)."""
        ...

    # -- cells and commits -------------------------------------------------------------------
    def load_cells(self, model: str, cube: str) -> pa.Table: ...
    def cells_as_of(self, model: str, cube: str, commit_id: int) -> pa.Table: ...
    def history_table(self, model: str, cube: str, upto: int, after: int = -1) -> pa.Table:
        """The cube's cell changes in the commits after ``after`` up to ``upto``, with each
        commit's author, time and source."""
        ...

    def commits_table(self, model: str, upto: int) -> pa.Table: ...
    def commit(
        self,
        model: str,
        changes: Sequence[CellChange],
        *,
        author: str,
        message: str,
        source: str,
        base: int | None = None,
        session: str | None = None,
        reverts: int | None = None,
    ) -> CommitResult:
        """One commit of the changes that change something (None when none does).

        With ``base``: StoreBaseAhead if ``base`` is after the model's head, StoreConflict if
        a target cell changed after it — unless by a commit of the same ``session`` and author
        (recorded per commit); both are checked under the model's write lock, and nothing is
        written.
        """
        ...

    def commit_many(
        self, model: str, requests: Sequence[CommitRequest]
    ) -> list[CommitResult | StoreConflict | StoreBaseAhead]:
        """Several writers' batches as one transaction, each its own commit, in order.

        Each request is checked as if it were committed alone after the ones before it (a
        cell an earlier request of the group wrote has changed after any later request's
        base); a refused request is answered with its exception and writes nothing, the
        others are committed. A failure of the transaction itself fails them all.
        """
        ...

    def list_commits(
        self, model: str, limit: int = 50, before: int | None = None
    ) -> list[CommitInfo]: ...
    def get_commit(self, model: str, commit_id: int) -> CommitInfo | None: ...
    def commit_changes(
        self, model: str, commit_id: int, limit: int | None = None, offset: int = 0
    ) -> list[HistoryRow]:
        """The commit's changes in (cube, address) order; ``limit`` of them from ``offset``."""
        ...

    def cell_history(self, model: str, cube: str, addr: str) -> list[HistoryRow]: ...
    def changes_since(self, model: str, commit_id: int) -> list[tuple[int, CellChange]]: ...

    # -- holds (per user; the address may name consolidated elements) ---------------------
    def list_holds(self, model: str, cube: str, author: str) -> list[str]: ...
    def set_hold(self, model: str, cube: str, author: str, addr: str, held: bool) -> None: ...

    # -- snapshots ---------------------------------------------------------------------------
    def create_snapshot(
        self, model: str, name: str, commit_id: int, author: str, description: str
    ) -> SnapshotRow: ...
    def list_snapshots(self, model: str) -> list[SnapshotRow]: ...
    def get_snapshot(self, model: str, name: str) -> SnapshotRow | None: ...
