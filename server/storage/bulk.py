"""A ``CellBatch`` committed with set-based SQL: the store's half of the bulk write path.

The batch is staged as one relation (DuckDB scans the Arrow table in place; PostgreSQL takes it
by ``COPY``), joined once with ``cells`` into a work table that holds each cell's old value, its
last commit and whether the new value differs, and every later step reads that table: the
conflict check (cells another session changed after the writer's base), the history rows, the
update of known cells and the insert of new ones. A million cells cost a handful of statements
and no Python object per cell. The answer is the batch's cells that really changed, as a batch.

It runs inside ``SqlStore.commit_many``'s transaction, after the group's small batches, so a
cell one of them wrote is seen here as changed by that commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from server.storage import delta
from server.storage.base import (
    CommitInfo,
    CommitRequest,
    CommitResult,
    ConflictCell,
    StoreBaseAhead,
    StoreConflict,
)
from server.storage.batch import CellBatch
from server.storage.sql_views import literal

if TYPE_CHECKING:
    from server.storage.sql import SqlStore


def commit_batch(
    store: SqlStore, cur: Any, model: str, r: CommitRequest, head: int, at: str
) -> tuple[CommitResult | StoreConflict | StoreBaseAhead, int]:
    """Commit ``r`` (whose changes are a ``CellBatch``); (its outcome, the head after it)."""
    batch = r.changes
    assert isinstance(batch, CellBatch)
    if r.base is not None and r.base > head:
        return StoreBaseAhead(r.base, head), head
    staged = store._stage_arrow(cur, batch.table())
    key = f"{literal(model)} || chr(31) || {literal(batch.cube)} || chr(31) || addr"  # cell_key
    # a cell's row is in cells or in the delta of bulk loads, never both (server.storage.delta)
    old = {
        col: f"CASE WHEN c.key IS NOT NULL THEN c.{col} ELSE d.{col} END"
        for col in ("num", "txt", "commit_id")
    }
    work = store._temp_as(
        cur,
        f"SELECT s.pos, s.key, s.addr, s.num, s.txt, {old['num']} AS old_num, "
        f"{old['txt']} AS old_txt, {old['commit_id']} AS old_commit, "
        "c.key IS NOT NULL AS known, d.addr IS NOT NULL AS loaded, "
        f"({old['num']} IS DISTINCT FROM s.num OR {old['txt']} IS DISTINCT FROM s.txt) AS real "
        f"FROM (SELECT *, {key} AS key FROM {staged}) s LEFT JOIN cells c ON c.key = s.key "
        f"LEFT JOIN {delta.TABLE} d ON d.model = {literal(model)} "
        f"AND d.cube = {literal(batch.cube)} AND d.addr = s.addr",
    )
    try:
        if r.base is not None:
            stale = store._exec(
                cur,
                "SELECT w.addr, w.old_num, w.old_txt, w.old_commit, k.author, k.created_at "
                f"FROM {work} w LEFT JOIN commits k ON k.id = w.old_commit "
                "WHERE w.old_commit > ? AND NOT (CAST(? AS TEXT) IS NOT NULL "
                "AND k.author = ? AND k.session IS NOT DISTINCT FROM CAST(? AS TEXT)) "
                "ORDER BY w.pos",
                [r.base, r.session, r.author, r.session],
            ).fetchall()
            if stale:
                return (
                    StoreConflict(
                        [
                            ConflictCell(batch.cube, a, n, t, int(k), by or "?", when or "")
                            for a, n, t, k, by, when in stale
                        ]
                    ),
                    head,
                )
        # the cells that really change, found by the usually few that do not (a new load's
        # million positions need not travel back from the database)
        same = store._fetch_int64(cur, f"SELECT pos FROM {work} WHERE NOT real")
        keep = np.ones(len(batch), dtype=bool)
        keep[same] = False
        pos = np.flatnonzero(keep)
        previous = head if store.shared else None
        if not len(pos):
            return CommitResult(None, head, batch.take(pos), previous), head
        (commit_id,) = store._next_ids(cur, 1)
        store._exec(
            cur,
            "INSERT INTO commits (id, model, author, created_at, message, source, cells, "
            "reverts, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [commit_id, model, r.author, at, r.message, r.source, len(pos), r.reverts, r.session],
        )
        store._exec(cur, "UPDATE models SET head = ? WHERE name = ?", [commit_id, model])
        t = delta.TABLE
        match = {
            "cells": "cells.key = w.key AND w.known",
            t: f"{t}.model = {literal(model)} AND {t}.cube = {literal(batch.cube)} "
            f"AND {t}.addr = w.addr AND w.loaded",
        }
        new = "real AND NOT known AND NOT loaded"
        # one pass counts each kind, so a load of new cells skips the updates (and the reverse)
        counts = store._exec(
            cur,
            "SELECT count(*) FILTER (WHERE real AND known), count(*) FILTER (WHERE real AND "
            f"loaded), count(*) FILTER (WHERE {new}) FROM {work}",
        ).fetchone()
        fresh = counts[2]
        to_delta = fresh >= store.delta_min_rows
        # the history of the cells that had a row; a new cell's, when it goes to the delta, is
        # its unlogged delta row (server.storage.delta)
        logged = "real AND (known OR loaded)" if to_delta else "real"
        if not to_delta or counts[0] or counts[1]:
            store._exec(
                cur,
                "INSERT INTO cell_history SELECT CAST(? AS BIGINT), ?, ?, addr, old_num, old_txt, "
                f"num, txt FROM {work} WHERE {logged}",
                [commit_id, model, batch.cube],
            )
        if counts[1]:  # loaded cells not changed since their load: their first history row now
            store._exec(
                cur,
                f"INSERT INTO cell_history {delta.log_sql(t)} FROM {t}, {work} w "
                f"WHERE {match[t]} AND w.real AND {t}.unlogged",
            )
        for (table, where), n in zip(match.items(), counts[:2], strict=True):
            if n:
                logs = ", unlogged = FALSE" if table == t else ""
                store._exec(
                    cur,
                    f"UPDATE {table} SET num = w.num, txt = w.txt, commit_id = ?{logs} "
                    f"FROM {work} w WHERE {where} AND w.real",
                    [commit_id],
                )
        if fresh:
            store._exec(
                cur,
                f"INSERT INTO {t} SELECT ?, ?, addr, num, txt, CAST(? AS BIGINT), TRUE "
                f"FROM {work} WHERE {new}"
                if to_delta
                else f"INSERT INTO cells SELECT key, ?, ?, addr, num, txt, CAST(? AS BIGINT) "
                f"FROM {work} WHERE {new}",
                [model, batch.cube, commit_id],
            )
        if to_delta:
            store._merger.poke(model)  # it starts once this transaction has let go of the lock
        info = CommitInfo(commit_id, model, r.author, at, r.message, r.source, len(pos), r.reverts)
        return CommitResult(info, commit_id, batch.take(pos), previous), commit_id
    finally:
        store._drop_temp(cur, work, staged)
