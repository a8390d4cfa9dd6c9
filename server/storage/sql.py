"""The SQL both stores share: one schema, one query text, a few dialect hooks.

DuckDB and PostgreSQL agree on nearly everything the store needs (sequences, ``ON CONFLICT``,
``DISTINCT ON``); the differences sit behind four hooks that subclasses implement:

- ``_begin(model)``: a cursor in a new transaction; with a model name, writes to that model are
  serialized (a process lock on DuckDB, ``SELECT ... FOR UPDATE`` on PostgreSQL); ``_lock``
  does the same inside a transaction already open;
- ``_stage(cur, rows, columns)``: make a batch of rows queryable as a relation for the rest of
  the transaction (an Arrow view on DuckDB, a temporary table filled by COPY on PostgreSQL);
- ``_fetch_arrow(cur, sql, params)``: a query result as an Arrow table;
- ``_sql(text)``: the placeholder style (queries here use ``?``).

Keeping both stores on one text is what lets one test suite vouch for both.

Every method runs in ``_transaction``: its own transaction, or — inside ``transaction()``, the
unit of work (``server.storage.unit``) — the one already open on this thread. The schema is the
Alembic migrations' (``server.storage.migrate``), run when the store opens.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from server.modeldef import CubeDef, DimensionDef, RuleSpec
from server.storage import bulk, delta, migrate, sql_views
from server.storage.base import (
    CellChange,
    CommitInfo,
    CommitRequest,
    CommitResult,
    ConflictCell,
    HistoryRow,
    ModelRow,
    SnapshotRow,
    StoreBaseAhead,
    StoreConflict,
    StoreSnapshotExists,
)
from server.storage.batch import CellBatch
from server.storage.unit import Transaction

Columns = Sequence[tuple[str, str]]  # (name, "text" | "float" | "int")
SQL_TYPES = {"text": "TEXT", "float": "DOUBLE PRECISION", "int": "BIGINT"}
_INLINE_ROWS = 200

CELL_SCHEMA = pa.schema([("addr", pa.string()), ("num", pa.float64()), ("txt", pa.string())])
_COMMIT_COLS = "k.id, k.model, k.author, k.created_at, k.message, k.source, k.cells, k.reverts"


def cell_key(model: str, cube: str, addr: str) -> str:
    return f"{model}\x1f{cube}\x1f{addr}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _commit(row: Sequence[Any]) -> CommitInfo:
    return CommitInfo(*row[:8])


class SqlStore(ABC):
    url: str
    shared: bool

    _local: threading.local  # .tx: the unit of work open on this thread
    _merger: delta.Merger  # moves bulk-loaded cells into the indexed table (``_migrate``)
    delta_min_rows = delta.MIN_ROWS  # new cells of one batch that go to the delta first
    _engine: Any  # SQLAlchemy's engine for units of work (``server.storage.unit.engine``)

    # -- dialect hooks -----------------------------------------------------------------------
    @abstractmethod
    def _begin(self, model: str | None = None) -> AbstractContextManager[Any]: ...

    @abstractmethod
    def _lock(self, cur: Any, model: str) -> AbstractContextManager[None]:
        """Serialize writes to ``model`` within an open transaction, until it ends."""
        ...

    @abstractmethod
    def _driver(self, cur: Any) -> Any:
        """The DB-API connection a cursor runs on."""
        ...

    @abstractmethod
    def _stage(self, cur: Any, rows: Sequence[Sequence[Any]], columns: Columns) -> str: ...

    @abstractmethod
    def _fetch_arrow(self, cur: Any, sql: str, params: Sequence[Any]) -> pa.Table: ...

    # the bulk write path (``server.storage.bulk``)
    @abstractmethod
    def _stage_arrow(self, cur: Any, table: pa.Table) -> str:
        """An Arrow table as a relation the transaction's SQL can read; its name."""
        ...

    @abstractmethod
    def _temp_as(self, cur: Any, select: str) -> str:
        """A temporary table holding what ``select`` reads; its name."""
        ...

    @abstractmethod
    def _drop_temp(self, cur: Any, table: str, staged: str) -> None: ...

    @abstractmethod
    def _fetch_int64(self, cur: Any, sql: str) -> np.ndarray:
        """The one BIGINT column ``sql`` reads (no parameters), as an array."""
        ...

    def _relation(
        self, cur: Any, rows: Sequence[Sequence[Any]], columns: Columns
    ) -> tuple[str, list[Any]]:
        """A batch as a relation for a FROM clause: inline VALUES when small, else staged.

        Small batches (a planner's edit) skip staging: both databases then look the keys up in
        the primary-key index, while a freshly staged table has no statistics and PostgreSQL
        would scan ``cells`` to join it.
        """
        if len(rows) > _INLINE_ROWS:
            return self._stage(cur, rows, columns), []
        row = "(" + ", ".join(f"CAST(? AS {SQL_TYPES[k]})" for _, k in columns) + ")"
        names = ", ".join(c for c, _ in columns)
        values = ", ".join([row] * len(rows))
        return f"(VALUES {values}) AS v({names})", [x for r in rows for x in r]

    def _rows(
        self, cur: Any, rows: Sequence[Sequence[Any]], columns: Columns
    ) -> tuple[str, list[Any]]:
        """Rows to insert as a relation (no lookups: nothing for an index to answer)."""
        return self._relation(cur, rows, columns)

    def _sql(self, text: str) -> str:
        return text

    def _exec(self, cur: Any, text: str, params: Sequence[Any] = ()) -> Any:
        cur.execute(self._sql(text), list(params))
        return cur

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def transaction(self, model: str | None = None) -> Iterator[Transaction]:
        """One unit of work: what runs inside, on this thread, commits or rolls back as one.

        ``model`` serializes it with the model's writers from the start (as ``commit`` does).
        A unit of work inside another is refused: nothing would be its own.
        """
        if getattr(self._local, "tx", None) is not None:
            raise RuntimeError("a unit of work is already open on this thread")
        with self._begin(model) as cur:
            tx = Transaction(self._engine, cur, self._driver(cur))
            self._local.tx = tx
            try:
                yield tx
                tx.flush()
            finally:
                self._local.tx = None
                tx.close()

    @contextmanager
    def _transaction(self, model: str | None = None) -> Iterator[Any]:
        tx: Transaction | None = getattr(self._local, "tx", None)
        if tx is None:
            with self._begin(model) as cur:
                yield cur
            return
        tx.flush()  # metadata written through the session is visible to the SQL that follows
        if model is None:
            yield tx.cursor
            return
        with self._lock(tx.cursor, model):
            yield tx.cursor

    def _migrate(self) -> None:
        with self.transaction() as tx:
            migrate.upgrade(tx.connection)
        self._merger = delta.Merger(self._merge_delta)
        with self._transaction() as cur:
            left = self._exec(cur, f"SELECT DISTINCT model FROM {delta.TABLE}").fetchall()
        for (model,) in left:  # a bulk load the last run had not merged yet
            self._merger.poke(model)

    # -- bulk-loaded cells (server.storage.delta) ----------------------------------------------
    def _merge_delta(self, model: str) -> int:
        return delta.merge_chunk(self, model)

    def merge_bulk_loads(self, timeout: float | None = None) -> bool:
        """Wait until every bulk load is merged into the indexed table (tests, benchmarks)."""
        return self._merger.wait(timeout)

    def _close_merger(self) -> None:
        merger: delta.Merger | None = getattr(self, "_merger", None)
        if merger is not None:
            merger.close()

    # -- models ------------------------------------------------------------------------------
    def list_models(self) -> list[ModelRow]:
        with self._transaction() as cur:
            rows = self._exec(
                cur, "SELECT name, description, created_at, head FROM models ORDER BY name"
            ).fetchall()
        return [ModelRow(*r) for r in rows]

    def get_model(self, name: str) -> ModelRow | None:
        with self._transaction() as cur:
            row = self._exec(
                cur,
                "SELECT name, description, created_at, head FROM models WHERE name = ?",
                [name],
            ).fetchone()
        return ModelRow(*row) if row else None

    def create_model(self, name: str, description: str) -> ModelRow:
        row = ModelRow(name, description, now(), 0)
        with self._transaction() as cur:
            self._exec(cur, "INSERT INTO models VALUES (?, ?, ?, ?)", [*_astuple(row)])
        return row

    def delete_model(self, name: str) -> None:
        with self._transaction(name) as cur:
            self._drop_views(cur, name)
            for table in ("dimensions", "elements", "edges", "cubes", "rules", "commits"):
                self._exec(cur, f"DELETE FROM {table} WHERE model = ?", [name])
            for table in ("cells", delta.TABLE):
                self._exec(cur, f"DELETE FROM {table} WHERE model = ?", [name])
            for table in (
                "cell_history",
                "snapshots",
                "holds",
                "load_profiles",
                "connectors",
                "connector_runs",
            ):
                self._exec(cur, f"DELETE FROM {table} WHERE model = ?", [name])
            self._exec(cur, "DELETE FROM models WHERE name = ?", [name])

    def replace_model(self, name: str, description: str) -> ModelRow:
        """Clear a model's structure and holds for a new one; commits, history, cells and
        snapshots stay (the new data is a new commit on top). ``created_at`` is renewed: the
        model is another one under the same name."""
        with self._transaction(name) as cur:
            self._drop_views(cur, name)
            for table in ("dimensions", "elements", "edges", "cubes", "rules", "holds"):
                self._exec(cur, f"DELETE FROM {table} WHERE model = ?", [name])
            created = now()
            self._exec(
                cur,
                "UPDATE models SET description = ?, created_at = ? WHERE name = ?",
                [description, created, name],
            )
            head = self._exec(cur, "SELECT head FROM models WHERE name = ?", [name]).fetchone()
        return ModelRow(name, description, created, int(head[0]))

    def head(self, model: str) -> int:
        with self._transaction() as cur:
            row = self._exec(cur, "SELECT head FROM models WHERE name = ?", [model]).fetchone()
        return int(row[0]) if row else 0

    # -- structure ---------------------------------------------------------------------------
    def load_structure(self, model: str) -> tuple[list[DimensionDef], list[CubeDef]]:
        with self._transaction() as cur:
            dims = self._exec(
                cur,
                "SELECT name, role, description, attributes FROM dimensions WHERE model = ? "
                "ORDER BY position",
                [model],
            ).fetchall()
            elements = self._exec(
                cur,
                "SELECT dimension, name, type, attributes FROM elements WHERE model = ? "
                "ORDER BY dimension, position",
                [model],
            ).fetchall()
            edges = self._exec(
                cur,
                "SELECT dimension, parent, child, weight FROM edges WHERE model = ? "
                "ORDER BY dimension, parent, position",
                [model],
            ).fetchall()
            cubes = self._exec(
                cur,
                "SELECT name, dimensions, description FROM cubes WHERE model = ? ORDER BY position",
                [model],
            ).fetchall()
            rules = self._exec(
                cur,
                "SELECT cube, name, target, formula, scope, level FROM rules WHERE model = ? "
                "ORDER BY cube, position",
                [model],
            ).fetchall()
        kids: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for dim, parent, child, weight in edges:
            kids.setdefault((dim, parent), []).append({"name": child, "weight": weight})
        members: dict[str, list[dict[str, Any]]] = {}
        for dim, name, etype, attrs in elements:
            members.setdefault(dim, []).append(
                {
                    "name": name,
                    "type": etype,
                    "attributes": json.loads(attrs),
                    "children": kids.get((dim, name), []),
                }
            )
        dimensions = [
            DimensionDef.model_validate(
                {
                    "name": name,
                    "role": role,
                    "description": description,
                    "attributes": json.loads(attrs),
                    "elements": members.get(name, []),
                }
            )
            for name, role, description, attrs in dims
        ]
        by_cube: dict[str, list[RuleSpec]] = {}
        for cube, name, target, formula, scope, level in rules:
            by_cube.setdefault(cube, []).append(
                RuleSpec(
                    name=name,
                    target=target,
                    formula=formula,
                    where=json.loads(scope),
                    level=level or "leaf",
                )
            )
        cube_defs = [
            CubeDef(name=n, dimensions=json.loads(d), description=desc, rules=by_cube.get(n, []))
            for n, d, desc in cubes
        ]
        return dimensions, cube_defs

    def save_dimension(self, model: str, dim: DimensionDef) -> None:
        with self._transaction(model) as cur:
            row = self._exec(
                cur,
                "SELECT position FROM dimensions WHERE model = ? AND name = ?",
                [model, dim.name],
            ).fetchone()
            if row is None:
                row = self._exec(
                    cur,
                    "SELECT COALESCE(MAX(position) + 1, 0) FROM dimensions WHERE model = ?",
                    [model],
                ).fetchone()
            position = int(row[0])
            self._delete_dimension(cur, model, dim.name)
            self._exec(
                cur,
                "INSERT INTO dimensions VALUES (?, ?, ?, ?, ?, ?)",
                [
                    model,
                    dim.name,
                    position,
                    dim.role.value if dim.role else None,
                    dim.description,
                    json.dumps({k: v.value for k, v in dim.attributes.items()}),
                ],
            )
            elements = [
                (model, dim.name, e.name, i, e.type.value, json.dumps(e.attributes))
                for i, e in enumerate(dim.elements)
            ]
            edges = [
                (model, dim.name, e.name, c.name, j, c.weight)
                for e in dim.elements
                for j, c in enumerate(e.children)
            ]
            self._insert(cur, "elements", elements, _ELEMENT_COLS)
            self._insert(cur, "edges", edges, _EDGE_COLS)

    def _insert(self, cur: Any, table: str, rows: Sequence[Sequence[Any]], cols: Columns) -> None:
        if rows:
            staged = self._stage(cur, rows, cols)
            self._exec(cur, f"INSERT INTO {table} SELECT * FROM {staged}")

    def _delete_dimension(self, cur: Any, model: str, name: str) -> None:
        for table in ("elements", "edges"):
            self._exec(cur, f"DELETE FROM {table} WHERE model = ? AND dimension = ?", [model, name])
        self._exec(cur, "DELETE FROM dimensions WHERE model = ? AND name = ?", [model, name])

    def delete_dimension(self, model: str, name: str) -> None:
        with self._transaction(model) as cur:
            self._delete_dimension(cur, model, name)

    def save_cube(self, model: str, cube: CubeDef) -> None:
        with self._transaction(model) as cur:
            row = self._exec(
                cur, "SELECT position FROM cubes WHERE model = ? AND name = ?", [model, cube.name]
            ).fetchone()
            if row is None:
                row = self._exec(
                    cur,
                    "SELECT COALESCE(MAX(position) + 1, 0) FROM cubes WHERE model = ?",
                    [model],
                ).fetchone()
            self._exec(cur, "DELETE FROM cubes WHERE model = ? AND name = ?", [model, cube.name])
            self._exec(cur, "DELETE FROM rules WHERE model = ? AND cube = ?", [model, cube.name])
            self._exec(
                cur,
                "INSERT INTO cubes VALUES (?, ?, ?, ?, ?)",
                [model, cube.name, int(row[0]), json.dumps(cube.dimensions), cube.description],
            )
            for i, r in enumerate(cube.rules):
                self._exec(
                    cur,
                    "INSERT INTO rules (model, cube, name, position, target, formula, scope, level)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        model,
                        cube.name,
                        r.name,
                        i,
                        r.target,
                        r.formula,
                        json.dumps(r.where),
                        r.level,
                    ],
                )
            self._create_view(cur, model, cube.name, cube.dimensions)

    def delete_cube(self, model: str, name: str) -> None:
        with self._transaction(model) as cur:
            cur.execute(sql_views.drop(model, name))
            self._exec(cur, "DELETE FROM cubes WHERE model = ? AND name = ?", [model, name])
            self._exec(cur, "DELETE FROM rules WHERE model = ? AND cube = ?", [model, name])
            # the cube's history stays: its bulk-loaded cells' first history rows are written
            t = delta.TABLE
            self._exec(
                cur,
                f"INSERT INTO cell_history {delta.log_sql(t)} FROM {t} "
                f"WHERE {t}.model = ? AND {t}.cube = ? AND {t}.unlogged",
                [model, name],
            )
            for table in ("cells", t):
                self._exec(cur, f"DELETE FROM {table} WHERE model = ? AND cube = ?", [model, name])
            self._exec(cur, "DELETE FROM holds WHERE model = ? AND cube = ?", [model, name])

    # -- SQL views (server.storage.sql_views) --------------------------------------------------
    def _create_view(self, cur: Any, model: str, cube: str, dimensions: Sequence[str]) -> None:
        # no parameters: the statement quotes its names itself, and a ``?`` in a name must
        # not become a placeholder
        cur.execute(sql_views.drop(model, cube))
        cur.execute(sql_views.create(model, cube, dimensions))

    def _drop_views(self, cur: Any, model: str) -> None:
        names = self._exec(cur, "SELECT name FROM cubes WHERE model = ?", [model]).fetchall()
        for (cube,) in names:
            cur.execute(sql_views.drop(model, cube))

    def refresh_sql_views(self) -> list[str]:
        """Create (again) the SQL view of every cube of every model; their names."""
        out = []
        for m in self.list_models():
            _, cubes = self.load_structure(m.name)
            with self._transaction(m.name) as cur:
                for c in cubes:
                    self._create_view(cur, m.name, c.name, c.dimensions)
                    out.append(sql_views.view_name(m.name, c.name))
        return out

    # -- cells -------------------------------------------------------------------------------
    def load_cells(self, model: str, cube: str) -> pa.Table:
        where = "WHERE model = ? AND cube = ? AND (num IS NOT NULL OR txt IS NOT NULL)"
        return self._read_arrow(
            f"SELECT addr, num, txt FROM cells {where} "
            f"UNION ALL SELECT addr, num, txt FROM {delta.TABLE} {where}",
            [model, cube, model, cube],
        )

    def cells_as_of(self, model: str, cube: str, commit_id: int) -> pa.Table:
        return self._read_arrow(
            "SELECT addr, num, txt FROM (SELECT DISTINCT ON (addr) addr, new_num AS num, "
            f"new_txt AS txt FROM {delta.HISTORY} h WHERE model = ? AND cube = ? "
            "AND commit_id <= ? ORDER BY addr, commit_id DESC) AS latest "
            "WHERE num IS NOT NULL OR txt IS NOT NULL",
            [model, cube, commit_id],
        )

    def history_table(self, model: str, cube: str, upto: int, after: int = -1) -> pa.Table:
        """Every change to the cube's cells in the commits after ``after`` up to ``upto``, in
        commit order, with its commit's author, time and source (for ``plancube export``)."""
        with self._transaction() as cur:
            return self._fetch_arrow(
                cur,
                self._sql(
                    "SELECT h.commit_id, k.author, k.created_at, k.source, h.addr, h.old_num, "
                    f"h.old_txt, h.new_num, h.new_txt FROM {delta.HISTORY} h JOIN commits k "
                    "ON k.id = h.commit_id WHERE h.model = ? AND h.cube = ? AND h.commit_id > ? "
                    "AND h.commit_id <= ? ORDER BY h.commit_id, h.addr"
                ),
                [model, cube, after, upto],
            )

    def commits_table(self, model: str, upto: int) -> pa.Table:
        """The model's commits up to ``upto``, oldest first."""
        with self._transaction() as cur:
            return self._fetch_arrow(
                cur,
                self._sql(
                    "SELECT id, author, created_at, message, source, cells, reverts FROM commits "
                    "WHERE model = ? AND id <= ? ORDER BY id"
                ),
                [model, upto],
            )

    def _read_arrow(self, sql: str, params: Sequence[Any]) -> pa.Table:
        with self._transaction() as cur:
            table = self._fetch_arrow(cur, self._sql(sql), params)
        return table.cast(CELL_SCHEMA)

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
        request = CommitRequest(changes, author, message, source, base, session, reverts)
        (outcome,) = self.commit_many(model, [request])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def commit_many(
        self, model: str, requests: Sequence[CommitRequest]
    ) -> list[CommitResult | StoreConflict | StoreBaseAhead]:
        """Several batches in one transaction and a fixed number of statements, whatever their
        number: the rows every batch reads are fetched once, each batch is checked and resolved
        here against what the batches before it wrote, and the group's rows are written
        together. A commit costs its statements once per group instead of once per writer.
        """
        small = [r for r in requests if not isinstance(r.changes, CellBatch)]
        with self._transaction(model) as cur:
            row = self._exec(cur, "SELECT head FROM models WHERE name = ?", [model]).fetchone()
            head = int(row[0])
            stored, in_delta = self._current(cur, model, [c for r in small for c in r.changes])
            bases = [r.base for r in small if r.base is not None and r.base <= head]
            later = sorted({v[2] for v in stored.values() if bases and v[2] > min(bases)})
            group = _Group(head, stored, self._writers(cur, later))
            for r in small:
                group.add(r)
            ids = self._next_ids(cur, len(group.commits))
            if ids:
                self._write_group(cur, model, group, ids, in_delta)
            answers = iter(group.outcomes(model, ids, head if self.shared else None))
            # a batch of columns after the group's small ones, each with set-based SQL
            after = ids[-1] if ids else head
            out: list[CommitResult | StoreConflict | StoreBaseAhead] = []
            for r in requests:
                if isinstance(r.changes, CellBatch):
                    outcome, after = bulk.commit_batch(self, cur, model, r, after, now())
                    out.append(outcome)
                else:
                    out.append(next(answers))
        return out

    def _next_ids(self, cur: Any, n: int) -> list[int]:
        """``n`` new commit ids, ascending (one sequence for all models)."""
        if not n:
            return []
        rows = self._exec(
            cur, "SELECT nextval('commit_seq') FROM generate_series(1, CAST(? AS BIGINT))", [n]
        ).fetchall()
        return sorted(int(r[0]) for r in rows)

    def _write_group(
        self, cur: Any, model: str, group: _Group, ids: list[int], in_delta: set[_Key]
    ) -> None:
        commits = [
            (ids[i], model, r.author, at, r.message, r.source, len(real), r.reverts, r.session)
            for i, (r, at, real) in enumerate(group.commits)
        ]
        rel, params = self._rows(cur, commits, _COMMIT_ROW_COLS)
        names = ", ".join(c for c, _ in _COMMIT_ROW_COLS)
        self._exec(cur, f"INSERT INTO commits ({names}) SELECT {names} FROM {rel}", params)
        self._exec(cur, "UPDATE models SET head = ? WHERE name = ?", [ids[-1], model])
        history = [(ids[slot], *rest) for slot, *rest in group.history]
        rel, params = self._rows(cur, history, _HISTORY_COLS)
        self._exec(
            cur,
            "INSERT INTO cell_history SELECT commit_id, ?, cube, addr, old_num, old_txt, "
            f"new_num, new_txt FROM {rel}",
            [model, *params],
        )
        # cells that have a row are updated in place, the others inserted: DuckDB's upsert
        # (INSERT .. ON CONFLICT DO UPDATE) costs several times a plain UPDATE
        # (a cell a bulk load left in the delta is updated there: server.storage.delta)
        known: list[tuple[Any, ...]] = []
        loaded: list[tuple[Any, ...]] = []
        fresh: list[tuple[Any, ...]] = []
        for (cube, addr), (num, txt, slot) in group.cells.items():
            row = (cell_key(model, cube, addr), cube, addr, num, txt, ids[slot])
            if (cube, addr) not in group.stored:
                fresh.append(row)
            else:
                (loaded if (cube, addr) in in_delta else known).append(row)
        match = {
            "cells": "cells.key = v.key",
            delta.TABLE: f"{delta.TABLE}.model = {sql_views.literal(model)} "
            f"AND {delta.TABLE}.cube = v.cube AND {delta.TABLE}.addr = v.addr",
        }
        for table, rows in (("cells", known), (delta.TABLE, loaded)):
            if not rows:
                continue
            rel, params = self._relation(cur, rows, _CELL_COLS)
            # inline VALUES come aliased v(...); a staged table (no params) is named
            source = rel if params else rel + " AS v"
            logs = ""
            if table == delta.TABLE:  # a row still unlogged gets its load's history row first
                t = delta.TABLE
                self._exec(
                    cur,
                    f"INSERT INTO cell_history {delta.log_sql(t)} FROM {t}, {source} "
                    f"WHERE {match[t]} AND {t}.unlogged",
                    params,
                )
                logs = ", unlogged = FALSE"
            self._exec(
                cur,
                f"UPDATE {table} SET num = v.num, txt = v.txt, commit_id = v.commit_id{logs} "
                f"FROM {source} WHERE {match[table]}",
                params,
            )
        if fresh:
            rel, params = self._relation(cur, fresh, _CELL_COLS)
            self._exec(
                cur,
                f"INSERT INTO cells SELECT key, ?, cube, addr, num, txt, commit_id FROM {rel} "
                "ON CONFLICT (key) DO UPDATE SET num = excluded.num, txt = excluded.txt, "
                "commit_id = excluded.commit_id",
                [model, *params],
            )

    def _current(
        self, cur: Any, model: str, changes: Sequence[CellChange]
    ) -> tuple[dict[_Key, tuple[Any, ...]], set[_Key]]:
        """(num, txt, last commit id) of every target cell that has a row; which of those
        rows are in the delta of bulk loads (``server.storage.delta``)."""
        if not changes:
            return {}, set()
        wanted = dict.fromkeys((c.cube, c.addr) for c in changes)
        keys = [cell_key(model, cube, addr) for cube, addr in wanted]
        m = sql_views.literal(model)
        if len(keys) <= _INLINE_ROWS:
            addrs = list(dict.fromkeys(addr for _, addr in wanted))
            marks = ", ".join("?" * len(addrs))
            sources = [
                f"cells c WHERE c.key IN ({', '.join('?' * len(keys))})",
                # by address alone, no key built per row (rows of another cube are dropped below)
                f"{delta.TABLE} c WHERE c.model = {m} AND c.addr IN ({marks})",
            ]
            params = [*keys, *addrs]
        else:
            staged = self._stage(cur, [(k,) for k in keys], [("key", "text")])
            sources = [
                f"{staged} s JOIN cells c ON c.key = s.key",
                f"{staged} s JOIN {delta.TABLE} c ON c.model = {m} AND s.key = {delta.key_of('c')}",
            ]
            params = []
        rows = self._exec(
            cur,
            " UNION ALL ".join(
                f"SELECT c.cube, c.addr, c.num, c.txt, c.commit_id, {flag} AS loaded FROM {src}"
                for src, flag in zip(sources, ("FALSE", "TRUE"), strict=True)
            ),
            params,
        ).fetchall()
        rows = [r for r in rows if (r[0], r[1]) in wanted]
        return {(r[0], r[1]): tuple(r[2:5]) for r in rows}, {(r[0], r[1]) for r in rows if r[5]}

    def _writers(self, cur: Any, ids: Sequence[int]) -> dict[int, tuple[str, str, str | None]]:
        """(author, time, session) of these commits."""
        if not ids:
            return {}
        rows = self._exec(
            cur,
            f"SELECT id, author, created_at, session FROM commits WHERE id IN "
            f"({', '.join('?' * len(ids))})",
            list(ids),
        ).fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def list_commits(
        self, model: str, limit: int = 50, before: int | None = None
    ) -> list[CommitInfo]:
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                f"SELECT {_COMMIT_COLS} FROM commits k WHERE k.model = ? AND k.id < ? "
                "ORDER BY k.id DESC LIMIT ?",
                [model, before if before is not None else 2**62, limit],
            ).fetchall()
        return [_commit(r) for r in rows]

    def get_commit(self, model: str, commit_id: int) -> CommitInfo | None:
        with self._transaction() as cur:
            row = self._exec(
                cur,
                f"SELECT {_COMMIT_COLS} FROM commits k WHERE k.model = ? AND k.id = ?",
                [model, commit_id],
            ).fetchone()
        return _commit(row) if row else None

    def _history(self, where: str, params: Sequence[Any], page: str = "") -> list[HistoryRow]:
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                f"SELECT {_COMMIT_COLS}, h.cube, h.addr, h.old_num, h.old_txt, h.new_num, "
                f"h.new_txt FROM {delta.HISTORY} h JOIN commits k ON k.id = h.commit_id "
                f"WHERE {where} ORDER BY h.commit_id, h.cube, h.addr{page}",
                params,
            ).fetchall()
        return [HistoryRow(_commit(r[:8]), *r[8:]) for r in rows]

    def commit_changes(
        self, model: str, commit_id: int, limit: int | None = None, offset: int = 0
    ) -> list[HistoryRow]:
        # a page of a million-cell commit is read as a page, not sliced from all of it
        page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return self._history("h.model = ? AND h.commit_id = ?", [model, commit_id], page)

    def cell_history(self, model: str, cube: str, addr: str) -> list[HistoryRow]:
        return self._history("h.model = ? AND h.cube = ? AND h.addr = ?", [model, cube, addr])

    def changes_since(self, model: str, commit_id: int) -> list[tuple[int, CellChange]]:
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                f"SELECT commit_id, cube, addr, new_num, new_txt FROM {delta.HISTORY} h "
                "WHERE model = ? AND commit_id > ? ORDER BY commit_id",
                [model, commit_id],
            ).fetchall()
        return [(r[0], CellChange(r[1], r[2], r[3], r[4])) for r in rows]

    # -- holds -------------------------------------------------------------------------------
    def list_holds(self, model: str, cube: str, author: str) -> list[str]:
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                "SELECT addr FROM holds WHERE model = ? AND cube = ? AND author = ? ORDER BY addr",
                [model, cube, author],
            ).fetchall()
        return [r[0] for r in rows]

    def set_hold(self, model: str, cube: str, author: str, addr: str, held: bool) -> None:
        with self._transaction() as cur:
            self._exec(
                cur,
                "DELETE FROM holds WHERE model = ? AND cube = ? AND author = ? AND addr = ?",
                [model, cube, author, addr],
            )
            if held:
                self._exec(
                    cur, "INSERT INTO holds VALUES (?, ?, ?, ?)", [model, cube, author, addr]
                )

    # -- snapshots ---------------------------------------------------------------------------
    def create_snapshot(
        self, model: str, name: str, commit_id: int, author: str, description: str
    ) -> SnapshotRow:
        snap = SnapshotRow(name, commit_id, author, now(), description)
        with self._transaction(model) as cur:
            # under the model's lock, so two at once cannot both pass (the unique key would
            # refuse the second with a driver error)
            taken = self._exec(
                cur, "SELECT 1 FROM snapshots WHERE model = ? AND name = ?", [model, name]
            ).fetchone()
            if taken:
                raise StoreSnapshotExists(name)
            self._exec(
                cur,
                "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?, ?)",
                [model, *_astuple(snap)],
            )
        return snap

    def list_snapshots(self, model: str) -> list[SnapshotRow]:
        with self._transaction() as cur:
            rows = self._exec(
                cur,
                "SELECT name, commit_id, author, created_at, description FROM snapshots "
                "WHERE model = ? ORDER BY commit_id, name",
                [model],
            ).fetchall()
        return [SnapshotRow(*r) for r in rows]

    def get_snapshot(self, model: str, name: str) -> SnapshotRow | None:
        with self._transaction() as cur:
            row = self._exec(
                cur,
                "SELECT name, commit_id, author, created_at, description FROM snapshots "
                "WHERE model = ? AND name = ?",
                [model, name],
            ).fetchone()
        return SnapshotRow(*row) if row else None


_Key = tuple[str, str]  # (cube, addr)


class _Group:
    """A group commit worked out in memory before anything is written.

    Requests are taken in order, each against the stored rows plus what the requests before it
    in the group wrote: a cell written earlier in the group changed after any base a later
    request can have (its commit comes after the head), so it is that request's conflict unless
    the same session wrote it. Commit ids are handed out afterwards, for the requests that
    commit, so ``slot`` i below becomes the group's i-th new id.
    """

    def __init__(
        self,
        head: int,
        stored: dict[_Key, tuple[Any, ...]],
        writers: dict[int, tuple[str, str, str | None]],
    ) -> None:
        self.head = head
        self.stored = stored  # (num, txt, commit id) as stored
        self.writers = writers  # commit id -> (author, time, session)
        self.cells: dict[_Key, tuple[Any, Any, int]] = {}  # (num, txt, slot) the group wrote
        self.commits: list[tuple[CommitRequest, str, list[CellChange]]] = []
        self.history: list[tuple[Any, ...]] = []  # (slot, cube, addr, old num/txt, new num/txt)
        # per request: StoreBaseAhead, a list of conflicts, or (slot or None, commits before)
        self._answers: list[Any] = []

    def add(self, r: CommitRequest) -> None:
        if r.base is not None and r.base > self.head:
            self._answers.append(StoreBaseAhead(r.base, self.head))
            return
        if r.base is not None:
            stale = [x for c in r.changes if (x := self._conflict(c, r)) is not None]
            if stale:
                self._answers.append(stale)
                return
        real = [c for c in r.changes if self._value((c.cube, c.addr)) != (c.num, c.txt)]
        if not real:
            self._answers.append((None, len(self.commits)))
            return
        slot = len(self.commits)
        self.commits.append((r, now(), real))
        for c in real:
            key = (c.cube, c.addr)
            self.history.append((slot, c.cube, c.addr, *self._value(key), c.num, c.txt))
            self.cells[key] = (c.num, c.txt, slot)
        self._answers.append((slot, slot))

    def _value(self, key: _Key) -> tuple[Any, Any]:
        if key in self.cells:
            return self.cells[key][:2]
        num, txt, _ = self.stored.get(key, (None, None, 0))
        return num, txt

    def _conflict(self, c: CellChange, r: CommitRequest) -> tuple[Any, ...] | None:
        """The cell as the other writer left it, if one changed it after ``r``'s base."""
        key = (c.cube, c.addr)
        if key in self.cells:
            num, txt, slot = self.cells[key]
            by, at, _ = self.commits[slot]
            if r.session is not None and (by.author, by.session) == (r.author, r.session):
                return None
            return (c.cube, c.addr, num, txt, ("slot", slot), by.author, at)
        num, txt, commit_id = self.stored.get(key, (None, None, 0))
        if commit_id <= (r.base or 0):
            return None
        author, at, session = self.writers.get(commit_id, ("?", "", None))
        if r.session is not None and (author, session) == (r.author, r.session):
            return None
        return (c.cube, c.addr, num, txt, ("id", commit_id), author, at)

    def outcomes(
        self, model: str, ids: list[int], previous: int | None
    ) -> list[CommitResult | StoreConflict | StoreBaseAhead]:
        out: list[CommitResult | StoreConflict | StoreBaseAhead] = []
        for answer in self._answers:
            if isinstance(answer, StoreBaseAhead):
                out.append(answer)
            elif isinstance(answer, list):
                out.append(
                    StoreConflict(
                        [
                            ConflictCell(cube, addr, num, txt, ids[n] if k == "slot" else n, by, at)
                            for cube, addr, num, txt, (k, n), by, at in answer
                        ]
                    )
                )
            else:
                slot, before = answer
                if slot is None:
                    out.append(
                        CommitResult(None, ids[before - 1] if before else self.head, [], previous)
                    )
                    continue
                r, at, real = self.commits[slot]
                info = CommitInfo(
                    ids[slot], model, r.author, at, r.message, r.source, len(real), r.reverts
                )
                out.append(CommitResult(info, ids[slot], real, previous))
        return out


def _astuple(obj: Any) -> list[Any]:
    return [getattr(obj, f) for f in obj.__slots__]


_COMMIT_ROW_COLS: Columns = [
    ("id", "int"),
    ("model", "text"),
    ("author", "text"),
    ("created_at", "text"),
    ("message", "text"),
    ("source", "text"),
    ("cells", "int"),
    ("reverts", "int"),
    ("session", "text"),
]
_HISTORY_COLS: Columns = [
    ("commit_id", "int"),
    ("cube", "text"),
    ("addr", "text"),
    ("old_num", "float"),
    ("old_txt", "text"),
    ("new_num", "float"),
    ("new_txt", "text"),
]
_CELL_COLS: Columns = [
    ("key", "text"),
    ("cube", "text"),
    ("addr", "text"),
    ("num", "float"),
    ("txt", "text"),
    ("commit_id", "int"),
]
_ELEMENT_COLS: Columns = [
    ("model", "text"),
    ("dimension", "text"),
    ("name", "text"),
    ("position", "int"),
    ("type", "text"),
    ("attributes", "text"),
]
_EDGE_COLS: Columns = [
    ("model", "text"),
    ("dimension", "text"),
    ("parent", "text"),
    ("child", "text"),
    ("position", "int"),
    ("weight", "float"),
]
