"""The bulk write path: a ``CellBatch`` committed by set-based SQL, on DuckDB and PostgreSQL.

It must answer exactly as the per-cell path does: only changed cells commit, a base finds the
cells another session changed (and nothing is written), the writer's own session is exempt,
text and clears round-trip, and a batch and small writes share one group transaction.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

from server.storage import (
    CellBatch,
    CellChange,
    CommitRequest,
    Store,
    StoreBaseAhead,
    StoreConflict,
    open_store,
)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    s.create_model("m", "test model")
    yield s
    s.close()


def batch(values: dict[str, float | str | None]) -> CellBatch:
    addrs = list(values)
    num = [v if isinstance(v, float) else np.nan for v in values.values()]
    txt = [v if isinstance(v, str) else None for v in values.values()]
    return CellBatch.of("C", addrs, np.array(num), pa.array(txt, pa.string()))


def stored(store: Store) -> dict[str, object]:
    return {
        r["addr"]: r["txt"] if r["num"] is None else r["num"]
        for r in store.load_cells("m", "C").to_pylist()
    }


def write(store: Store, b: CellBatch, **kw: object):  # type: ignore[no-untyped-def]
    args = {"author": "ann", "message": "", "source": "import", **kw}
    return store.commit("m", b, **args)  # type: ignore[arg-type]


def test_a_batch_commits_only_what_changed_with_history(store: Store) -> None:
    first = write(store, batch({"a": 1.0, "b": "text", "c": 3.0}))
    assert first.commit is not None and first.commit.cells == 3
    assert stored(store) == {"a": 1.0, "b": "text", "c": 3.0}
    again = write(store, batch({"a": 1.0, "b": "text", "c": 4.0, "d": None}))
    assert again.commit is not None and again.commit.cells == 1
    assert isinstance(again.changes, CellBatch) and again.changes.addr.to_pylist() == ["c"]
    [h] = store.cell_history("m", "C", "c")[-1:]
    assert (h.old_num, h.new_num, h.commit.id) == (3.0, 4.0, again.commit.id)
    nothing = write(store, batch({"a": 1.0}))
    assert nothing.commit is None and nothing.head == again.commit.id
    cleared = write(store, batch({"a": None, "b": ""}))
    assert cleared.commit is not None and cleared.commit.cells == 2
    assert stored(store) == {"b": "", "c": 4.0}  # an empty text is a text, not a clear


def test_a_stale_batch_names_the_cells_and_writes_nothing(store: Store) -> None:
    base = write(store, batch({"a": 1.0, "b": 1.0})).head
    later = store.commit(
        "m", [CellChange("C", "a", 2.0)], author="bob", message="", source="api", session="s-bob"
    ).head
    with pytest.raises(StoreConflict) as exc:
        write(store, batch({"a": 3.0, "b": 3.0}), base=base, session="s-ann")
    [c] = exc.value.cells
    assert (c.addr, c.num, c.commit_id, c.author) == ("a", 2.0, later, "bob")
    assert stored(store) == {"a": 2.0, "b": 1.0} and store.head("m") == later
    # bob's own session is exempt; a base past the head is refused
    write(store, batch({"a": 5.0}), base=base, author="bob", session="s-bob")
    with pytest.raises(StoreBaseAhead):
        write(store, batch({"a": 6.0}), base=store.head("m") + 10)


def test_a_batch_sees_what_the_small_writes_of_its_group_wrote(store: Store) -> None:
    base = write(store, batch({"a": 1.0})).head
    small = CommitRequest([CellChange("C", "a", 2.0)], "bob", "", "api", None, "s-bob")
    big = CommitRequest(batch({"a": 3.0, "z": 1.0}), "ann", "", "import", base, "s-ann")
    free = CommitRequest(batch({"y": 7.0}), "ann", "", "import")
    one, two, three = store.commit_many("m", [small, big, free])
    assert not isinstance(one, Exception) and one.commit is not None
    assert isinstance(two, StoreConflict) and two.cells[0].commit_id == one.commit.id
    assert not isinstance(three, Exception) and three.commit is not None
    assert three.commit.id > one.commit.id == store.head("m") - 1
    assert stored(store) == {"a": 2.0, "y": 7.0}


@pytest.mark.parametrize("n", [3, 5_000])
def test_a_batch_and_the_per_cell_path_store_the_same(store: Store, n: int) -> None:
    rng = np.random.default_rng(n)
    values = {f"k{i}": float(v) for i, v in enumerate(rng.normal(0, 1e6, n))}
    write(store, batch(values))
    half = dict(list(values.items())[: n // 2])
    store.commit(
        "m",
        [CellChange("C", a, v + 1) for a, v in half.items()],
        author="ann",
        message="",
        source="api",
    )
    expect = {a: v + 1 if a in half else v for a, v in values.items()}
    assert stored(store) == expect
