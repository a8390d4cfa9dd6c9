"""New cells of a bulk load wait in an unindexed table until a background merge indexes them.

``cells`` has a text primary key: a planner's one-cell write finds its row through the index in
microseconds. Keeping that index costs a bulk load more than everything else it does — DuckDB
spends about a second of index work per million new keys, half of it at COMMIT — so a batch that
brings at least ``MIN_ROWS`` new cells inserts them into ``cells_delta``, a table of the same
columns with no index, and the import is answered as soon as that commit is durable. A
``Merger`` thread then moves the model's delta into ``cells`` in chunks of ``CHUNK`` rows, each
its own short transaction under the model's write lock, so writers wait for one chunk at a time
instead of for the whole index build.

The one rule every reader and writer keeps: **a cell's row is in ``cells`` or in
``cells_delta``, never both.** Reads take the union (``load_cells``, the SQL views); a write
looks a key up in both and updates the row where it is; only a cell in neither is inserted, and
a merge moves rows (insert and delete in one transaction). A crash between chunks leaves the
rest in the delta, where reads still find it, and the next start merges it.

A new cell's first history row (its load's commit, no old value, the loaded value) is the delta
row itself while that row is ``unlogged``: the load writes each new cell once, not into the
history as well. Readers of the history read ``HISTORY``, the history table with the unlogged
rows as history rows; a write that changes an unlogged row first writes its history row
(``log_sql``), and a merge writes the history rows of the chunk it moves. So an unlogged row is
one no commit has changed since its load, and its values are the load's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from server.storage.sql_views import literal

if TYPE_CHECKING:
    from server.storage.sql import SqlStore

log = logging.getLogger(__name__)


def key_of(alias: str) -> str:
    """SQL for the ``cells.key`` of a delta row (``server.storage.sql.cell_key``)."""
    return f"{alias}.model || chr(31) || {alias}.cube || chr(31) || {alias}.addr"


TABLE = "cells_delta"  # the columns of ``cells`` but its key, and ``unlogged``


def log_sql(alias: str) -> str:
    """The history row of a delta row, as a SELECT list (``cell_history``'s columns)."""
    a = alias
    return (
        f"SELECT {a}.commit_id, {a}.model, {a}.cube, {a}.addr, CAST(NULL AS DOUBLE PRECISION), "
        f"CAST(NULL AS TEXT), {a}.num, {a}.txt"
    )


# every history row: the history table and the delta's unlogged rows (a subquery, to alias)
HISTORY = (
    "(SELECT commit_id, model, cube, addr, old_num, old_txt, new_num, new_txt FROM cell_history "
    f"UNION ALL {log_sql('u')} FROM {TABLE} u WHERE u.unlogged)"
)
MIN_ROWS = 10_000  # a batch with at least this many new cells puts them in the delta
CHUNK = 100_000  # rows per merge transaction: how long a writer may wait behind a merge
SETTLE = 2.0  # seconds a merge waits after a bulk load: the load's own commit and engine apply
# go first


class Merger:
    """Runs ``merge(model)`` — one chunk, answering how many rows it moved — in a thread of its
    own until each model that was ``poke``d has an empty delta. Started at the first poke."""

    def __init__(self, merge: Callable[[str], int], settle: float = SETTLE) -> None:
        self._merge = merge
        self._settle = settle
        self._want: set[str] = set()
        self._busy = False
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._merging: set[str] = set()  # models merged chunk after chunk right now
        self._stop = threading.Event()

    def poke(self, model: str) -> None:
        with self._cv:
            if self._closed:
                return
            self._want.add(model)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="delta-merge", daemon=True)
                self._thread.start()
            self._cv.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Until nothing is left to merge (True) or ``timeout`` passes (False)."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._want and not self._busy, timeout)

    def close(self) -> None:
        """Stop after the chunk in progress; what is left merges at the next start."""
        with self._cv:
            self._closed = True
            self._stop.set()
            self._cv.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._want or self._closed)
                if self._closed:
                    self._want.clear()
                    self._cv.notify_all()
                    return
                model = self._want.pop()
                self._busy = True
                first = model not in self._merging
                self._merging.add(model)
            if first:  # not while the import that poked is still applying its cells
                self._stop.wait(self._settle)
            moved = 0
            try:
                if not self._stop.is_set():
                    moved = self._merge(model)
            except Exception:  # the delta still serves reads; the next start tries again
                log.exception("merging the bulk-loaded cells of model %r into cells", model)
            with self._cv:
                self._busy = False
                if moved:
                    self._want.add(model)  # there may be more
                else:
                    self._merging.discard(model)
                self._cv.notify_all()


def merge_chunk(store: SqlStore, model: str) -> int:
    """Move one chunk of the model's delta into ``cells``; how many rows it moved."""
    with store._transaction(model) as cur:
        m = literal(model)
        chunk = store._temp_as(
            cur,
            f"SELECT {key_of('d')} AS key, d.model, d.cube, d.addr, d.num, d.txt, "
            f"d.commit_id, d.unlogged FROM {TABLE} d WHERE d.model = {m} LIMIT {CHUNK}",
        )
        try:
            moved = store._exec(cur, f"SELECT count(*) FROM {chunk}").fetchone()[0]
            if moved:
                store._exec(
                    cur, f"INSERT INTO cell_history {log_sql('c')} FROM {chunk} c WHERE c.unlogged"
                )
                store._exec(
                    cur,
                    f"INSERT INTO cells SELECT key, model, cube, addr, num, txt, commit_id "
                    f"FROM {chunk}",
                )
                store._exec(
                    cur,
                    f"DELETE FROM {TABLE} WHERE model = {m} AND EXISTS (SELECT 1 FROM "
                    f"{chunk} c WHERE c.cube = {TABLE}.cube "
                    f"AND c.addr = {TABLE}.addr)",
                )
        finally:
            store._drop_temp(cur, chunk, "")
    return int(moved)
