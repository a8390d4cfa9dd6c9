"""Bulk-loaded new cells wait in ``cells_delta`` until the merger indexes them
(``server.storage.delta``), on DuckDB and PostgreSQL.

Whatever the delta holds, every read and write must answer as if all cells were in ``cells``:
reads take both tables, a write to a cell still in the delta updates it there (with its
history and its conflicts), a cell is never in both tables, a merge loses and doubles nothing —
not even with writers in between its chunks — and what a run left unmerged is merged at the next
start. The tests hold the merger back where they look at the delta itself.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from server.modeldef import CubeDef, DimensionDef, ElementDef
from server.storage import CellBatch, CellChange, Store, StoreConflict, delta, open_store
from server.storage.sql import SqlStore


class Held:
    """The store's merger, allowed to move rows only once ``release``d."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.gate = threading.Event()
        real = store._merge_delta
        store._merger.close()
        store._merger = delta.Merger(lambda m: real(m) if self.gate.is_set() else 0, settle=0)

    def release(self, model: str = "m") -> None:
        self.gate.set()
        self.store._merger.poke(model)
        assert self.store.merge_bulk_loads(timeout=60)


@pytest.fixture
def store(store_url: str) -> Iterator[SqlStore]:
    s = open_store(store_url)
    assert isinstance(s, SqlStore)
    s.delta_min_rows = 3
    s.create_model("m", "test model")
    yield s
    s.close()


def batch(values: dict[str, float | str | None]) -> CellBatch:
    num = [v if isinstance(v, float) else np.nan for v in values.values()]
    txt = [v if isinstance(v, str) else None for v in values.values()]
    return CellBatch.of("C", list(values), np.array(num), pa.array(txt, pa.string()))


def write(store: Store, changes: Any, **kw: Any) -> Any:
    return store.commit("m", changes, **{"author": "ann", "message": "", "source": "import", **kw})


def rows(store: SqlStore, table: str) -> dict[str, Any]:
    """addr -> value of the model's rows in ``table``; fails on a key twice."""
    with store._transaction() as cur:
        got = store._exec(cur, f"SELECT addr, num, txt FROM {table} WHERE model = 'm'").fetchall()
    out = {a: t if n is None else n for a, n, t in got}
    assert len(out) == len(got), f"a cell twice in {table}"
    return out


def stored(store: Store) -> dict[str, Any]:
    return {
        r["addr"]: r["txt"] if r["num"] is None else r["num"]
        for r in store.load_cells("m", "C").to_pylist()
    }


def one_table_each(store: SqlStore) -> None:
    both = rows(store, "cells").keys() & rows(store, delta.TABLE).keys()
    assert not both, f"in cells and in the delta: {sorted(both)}"


def test_a_big_batch_waits_in_the_delta_and_every_read_sees_it(store: SqlStore) -> None:
    held = Held(store)
    write(store, batch({"a": 1.0, "b": "text", "c": 3.0}))
    assert rows(store, delta.TABLE) == {"a": 1.0, "b": "text", "c": 3.0}
    assert rows(store, "cells") == {}
    assert stored(store) == {"a": 1.0, "b": "text", "c": 3.0}
    write(store, batch({"d": 4.0}))  # below the threshold: straight into cells
    assert rows(store, "cells") == {"d": 4.0}
    held.release()
    assert rows(store, delta.TABLE) == {}
    assert rows(store, "cells") == {"a": 1.0, "b": "text", "c": 3.0, "d": 4.0}
    assert stored(store) == {"a": 1.0, "b": "text", "c": 3.0, "d": 4.0}


def test_a_write_to_a_cell_in_the_delta_updates_it_there(store: SqlStore) -> None:
    held = Held(store)
    base = write(store, batch({"a": 1.0, "b": 2.0, "c": 3.0, "x": "t"})).head
    # a planner's edit (the per-cell path) of a delta cell, a new one, a clear
    later = write(
        store,
        [CellChange("C", "a", 10.0), CellChange("C", "n", 5.0), CellChange("C", "x", None)],
        source="api",
        session="s-bob",
        author="bob",
    ).head
    assert rows(store, delta.TABLE) == {"a": 10.0, "b": 2.0, "c": 3.0, "x": None}
    assert rows(store, "cells") == {"n": 5.0}
    [*_, h] = store.cell_history("m", "C", "a")
    assert (h.old_num, h.new_num, h.commit.id) == (1.0, 10.0, later)
    # a stale batch finds bob's change of a cell in the delta and writes nothing
    with pytest.raises(StoreConflict) as exc:
        write(store, batch({"a": 3.0, "b": 3.0}), base=base, session="s-ann")
    assert [(c.addr, c.num, c.author) for c in exc.value.cells] == [("a", 10.0, "bob")]
    # a batch updates delta cells and cells in place and adds the new ones to the delta
    out = write(store, batch({"a": 11.0, "n": 6.0, "p": 1.0, "q": 2.0, "r": 3.0}))
    assert out.commit.cells == 5
    assert rows(store, "cells") == {"n": 6.0}
    assert rows(store, delta.TABLE) == {
        "a": 11.0,
        "b": 2.0,
        "c": 3.0,
        "x": None,
        "p": 1.0,
        "q": 2.0,
        "r": 3.0,
    }
    one_table_each(store)
    held.release()
    one_table_each(store)
    expected = {"a": 11.0, "b": 2.0, "c": 3.0, "n": 6.0, "p": 1.0, "q": 2.0, "r": 3.0}
    assert stored(store) == expected
    assert rows(store, delta.TABLE) == {}


def test_what_a_run_left_in_the_delta_is_merged_at_the_next_start(store_url: str) -> None:
    first = open_store(store_url)
    assert isinstance(first, SqlStore)
    first.create_model("m", "")
    first.delta_min_rows = 3
    Held(first)
    write(first, batch({"a": 1.0, "b": 2.0, "c": 3.0}))
    assert len(rows(first, delta.TABLE)) == 3
    first.close()
    second = open_store(store_url)
    assert isinstance(second, SqlStore)
    try:
        assert stored(second) == {"a": 1.0, "b": 2.0, "c": 3.0}  # read before or after merging
        assert second.merge_bulk_loads(timeout=60)
        assert rows(second, delta.TABLE) == {}
        assert rows(second, "cells") == {"a": 1.0, "b": 2.0, "c": 3.0}
    finally:
        second.close()


def test_deleting_a_cube_or_a_model_deletes_its_delta_rows(store: SqlStore) -> None:
    Held(store)
    write(store, batch({"a": 1.0, "b": 2.0, "c": 3.0}))
    store.save_dimension("m", DimensionDef(name="D", elements=[ElementDef(name="a")]))
    store.save_cube("m", CubeDef(name="C", dimensions=["D"]))
    store.delete_cube("m", "C")
    assert rows(store, delta.TABLE) == {}
    write(store, batch({"a": 1.0, "b": 2.0, "c": 3.0}))
    store.delete_model("m")
    assert rows(store, delta.TABLE) == {}


def test_the_sql_view_reads_the_delta_too(store: SqlStore) -> None:
    held = Held(store)
    store.save_dimension("m", DimensionDef(name="D", elements=[ElementDef(name=x) for x in "abcd"]))
    store.save_cube("m", CubeDef(name="C", dimensions=["D"]))
    write(store, batch({"a": 1.0, "b": 2.0, "c": 3.0}))
    write(store, batch({"d": 4.0}))

    def view() -> list[tuple[Any, ...]]:
        with store._transaction() as cur:
            got = store._exec(cur, 'SELECT "D", num FROM "m.C" ORDER BY 1').fetchall()
        return [tuple(r) for r in got]

    assert view() == [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)]
    held.release()
    assert view() == [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)]


def test_writers_between_the_merges_chunks_lose_nothing(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delta, "CHUNK", 7)
    held = Held(store)
    addrs = [f"k{i:03d}" for i in range(300)]
    write(store, batch(dict.fromkeys(addrs, 0.0)))
    expected = dict.fromkeys(addrs, 0.0)
    rng = random.Random(5)
    held.gate.set()
    store._merger.poke("m")  # merging 7 rows at a time while bob writes
    for i in range(60):
        picked = rng.sample(addrs, 3)
        write(store, [CellChange("C", a, float(i + 1)) for a in picked], source="api")
        expected.update(dict.fromkeys(picked, float(i + 1)))
        if i % 10 == 0:  # a batch below the threshold too
            write(store, batch({addrs[i]: -1.0}))
            expected[addrs[i]] = -1.0
        one_table_each(store)
    assert store.merge_bulk_loads(timeout=120)
    assert rows(store, delta.TABLE) == {}
    assert rows(store, "cells") == expected
    assert stored(store) == expected


def test_a_write_finds_its_own_cubes_cell_not_another_cubes_same_address(store: SqlStore) -> None:
    Held(store)
    other = CellBatch.of("D", ["a", "b", "c"], np.array([1.0, 2.0, 3.0]))
    write(store, other)
    write(store, [CellChange("C", "a", 9.0)], source="api")
    assert rows(store, "cells") == {"a": 9.0}  # C's a: a new cell, not D's row in the delta
    assert rows(store, delta.TABLE) == {"a": 1.0, "b": 2.0, "c": 3.0}
    assert stored(store) == {"a": 9.0}
    assert {r["addr"]: r["num"] for r in store.load_cells("m", "D").to_pylist()} == {
        "a": 1.0,
        "b": 2.0,
        "c": 3.0,
    }


def logged(store: SqlStore) -> list[tuple[int, str, Any, Any]]:
    """(commit, addr, old, new) of the rows the history table itself holds, in order."""
    with store._transaction() as cur:
        got = store._exec(
            cur,
            "SELECT commit_id, addr, coalesce(CAST(old_num AS TEXT), old_txt), "
            "coalesce(CAST(new_num AS TEXT), new_txt) FROM cell_history WHERE model = 'm' "
            "ORDER BY commit_id, addr",
        ).fetchall()
    return [tuple(r) for r in got]


def history(store: SqlStore, addr: str) -> list[tuple[int, Any, Any]]:
    return [
        (h.commit.id, h.old_num if h.old_txt is None else h.old_txt, h.new_num or h.new_txt)
        for h in store.cell_history("m", "C", addr)
    ]


def test_a_bulk_loads_new_cells_are_written_once_their_history_read_from_the_delta(
    store: SqlStore,
) -> None:
    """The load's history rows wait in the delta (unlogged): every reader of the history sees
    them, a write to such a cell writes its load's row first, and the merge writes the rest —
    each history row exactly once."""
    held = Held(store)
    load = write(store, batch({"a": 1.0, "b": "t", "c": 3.0})).head
    assert logged(store) == []  # nothing written twice at the load
    assert history(store, "a") == [(load, None, 1.0)]
    assert [(h.addr, h.new_num, h.new_txt) for h in store.commit_changes("m", load)] == [
        ("a", 1.0, None),
        ("b", None, "t"),
        ("c", 3.0, None),
    ]
    assert sorted((k, c.addr) for k, c in store.changes_since("m", 0)) == [
        (load, "a"),
        (load, "b"),
        (load, "c"),
    ]
    asof = store.cells_as_of("m", "C", load).to_pylist()
    assert sorted(r["addr"] for r in asof) == ["a", "b", "c"]
    exported = store.history_table("m", "C", load)
    assert exported.num_rows == 3 and exported.column("commit_id").to_pylist() == [load] * 3
    # the per-cell path changes a: its load row is written before the change's own
    edit = write(store, [CellChange("C", "a", 10.0)], source="api").head
    assert history(store, "a") == [(load, None, 1.0), (edit, 1.0, 10.0)]
    # a batch changes b (and an unchanged c stays unlogged): b's load row first too
    again = write(store, batch({"b": 2.0, "c": 3.0, "d": 4.0})).head
    assert history(store, "b") == [(load, None, "t"), (again, "t", 2.0)]
    assert history(store, "c") == [(load, None, 3.0)]
    assert ("c" in {r[1] for r in logged(store)}) is False
    held.release()
    one_table_each(store)
    got = logged(store)
    assert len(got) == len(set(got))  # no row twice
    assert [(k, a) for k, a, *_ in got] == [
        (load, "a"),
        (load, "b"),
        (load, "c"),
        (edit, "a"),
        (again, "b"),
        (again, "d"),
    ]
    assert history(store, "c") == [(load, None, 3.0)]  # from the history table alone now
    assert history(store, "a") == [(load, None, 1.0), (edit, 1.0, 10.0)]


def test_a_bulk_load_is_reverted_and_a_deleted_cube_keeps_its_history(store: SqlStore) -> None:
    held = Held(store)
    store.save_dimension("m", DimensionDef(name="D", elements=[ElementDef(name="x")]))
    store.save_cube("m", CubeDef(name="C", dimensions=["D"]))
    load = write(store, batch({"a": 1.0, "b": 2.0, "c": 3.0})).head
    changes = store.commit_changes("m", load)
    assert len(changes) == 3  # what a revert reads to undo the load
    store.delete_cube("m", "C")
    assert rows(store, delta.TABLE) == {}
    assert [a for _, a, *_ in logged(store)] == ["a", "b", "c"]
    held.release()
