"""The Store protocol, run against DuckDB and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.modeldef import CubeDef, DimensionDef
from server.storage import CellChange, Store, StoreBaseAhead, StoreConflict, migrate, open_store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    s.create_model("m", "test model")
    yield s
    s.close()


def commit(
    store: Store,
    *changes: CellChange,
    author: str = "ann",
    base: int | None = None,
    session: str | None = "s-ann",
) -> int:
    result = store.commit(
        "m",
        list(changes),
        author=author,
        message="",
        source="api",
        base=base,
        session=session,
    )
    assert result.commit is not None
    return result.commit.id


def cells(table) -> dict[str, object]:  # type: ignore[no-untyped-def]
    rows = table.to_pylist()
    return {r["addr"]: r["txt"] if r["num"] is None else r["num"] for r in rows}


def test_structure_round_trips(store: Store) -> None:
    dim = DimensionDef.model_validate(
        {
            "name": "Account",
            "attributes": {"Code": "alias", "Rate": "number"},
            "elements": [
                {"name": "Net", "children": ["Rev", {"name": "Cost", "weight": -1}]},
                {"name": "Rev", "attributes": {"Code": "4000", "Rate": 0.5}},
                "Cost",
            ],
        }
    )
    measure = DimensionDef.model_validate(
        {
            "name": "Measure",
            "role": "measure",
            "elements": ["Amount", {"name": "N", "type": "text"}],
        }
    )
    store.save_dimension("m", dim)
    store.save_dimension("m", measure)
    store.save_cube("m", CubeDef(name="C", dimensions=["Account", "Measure"]))
    dims, cubes = store.load_structure("m")
    assert dims == [dim, measure]
    assert cubes == [CubeDef(name="C", dimensions=["Account", "Measure"])]
    # saving again replaces, keeping the position
    dim2 = dim.model_copy(update={"elements": dim.elements[:2]})
    store.save_dimension("m", dim2)
    dims, _ = store.load_structure("m")
    assert [d.name for d in dims] == ["Account", "Measure"]
    assert [e.name for e in dims[0].elements] == ["Net", "Rev"]


def test_commit_history_and_as_of(store: Store) -> None:
    c1 = commit(store, CellChange("C", "a", 1.0), CellChange("C", "b", 2.0))
    c2 = commit(store, CellChange("C", "a", 5.0), CellChange("C", "t", txt="hi"))
    c3 = commit(store, CellChange("C", "b"))  # clear
    assert c1 < c2 < c3
    assert cells(store.load_cells("m", "C")) == {"a": 5.0, "t": "hi"}
    assert cells(store.cells_as_of("m", "C", c1)) == {"a": 1.0, "b": 2.0}
    assert cells(store.cells_as_of("m", "C", c2)) == {"a": 5.0, "b": 2.0, "t": "hi"}
    assert cells(store.cells_as_of("m", "C", 0)) == {}
    history = store.cell_history("m", "C", "a")
    assert [(h.commit.id, h.old_num, h.new_num) for h in history] == [
        (c1, None, 1.0),
        (c2, 1.0, 5.0),
    ]
    assert [c.id for c in store.list_commits("m")] == [c3, c2, c1]
    assert [c.id for c in store.list_commits("m", limit=1, before=c3)] == [c2]
    assert store.head("m") == c3
    changes = store.changes_since("m", c1)
    assert [(cid, c.addr, c.num, c.txt) for cid, c in changes] == [
        (c2, "a", 5.0, None),
        (c2, "t", None, "hi"),
        (c3, "b", None, None),
    ]
    info = store.get_commit("m", c2)
    assert info is not None and info.cells == 2 and info.author == "ann"


def test_unchanged_values_make_no_commit(store: Store) -> None:
    c1 = commit(store, CellChange("C", "a", 1.0))
    result = store.commit("m", [CellChange("C", "a", 1.0)], author="ann", message="", source="api")
    assert result.commit is None and result.head == c1
    result = store.commit(
        "m",
        [CellChange("C", "a", 1.0), CellChange("C", "b", 2.0)],
        author="ann",
        message="",
        source="api",
    )
    assert result.commit is not None and [c.addr for c in result.changes] == ["b"]


def test_conflict_names_cells_and_writes_nothing(store: Store) -> None:
    base = commit(store, CellChange("C", "a", 1.0), CellChange("C", "b", 1.0))
    later = commit(store, CellChange("C", "a", 2.0), author="bob", session="s-bob")
    with pytest.raises(StoreConflict) as exc:
        commit(store, CellChange("C", "a", 3.0), CellChange("C", "b", 3.0), base=base)
    [c] = exc.value.cells
    assert (c.addr, c.num, c.commit_id, c.author) == ("a", 2.0, later, "bob")
    assert cells(store.load_cells("m", "C")) == {"a": 2.0, "b": 1.0}
    assert store.head("m") == later
    # other cells go through with the same stale base
    commit(store, CellChange("C", "b", 3.0), base=base)
    # a cell bob cleared is still a conflict
    cleared = commit(store, CellChange("C", "b"), author="bob", session="s-bob")
    with pytest.raises(StoreConflict):
        commit(store, CellChange("C", "b", 4.0), base=cleared - 1)
    # the writer's own later change is not a conflict with itself
    commit(store, CellChange("C", "b", 5.0), base=base, author="bob", session="s-bob")


def test_a_base_after_the_head_is_refused_and_writes_nothing(store: Store) -> None:
    top = commit(store, CellChange("C", "a", 1.0))
    store.create_model("n", "another model")
    other = store.commit("n", [CellChange("C", "a", 9.0)], author="ann", message="", source="api")
    assert other.head > top  # one commit sequence for every model
    for base in (top + 1, other.head):
        with pytest.raises(StoreBaseAhead) as exc:
            commit(store, CellChange("C", "a", 2.0), base=base)
        assert (exc.value.base, exc.value.head) == (base, top)
    assert cells(store.load_cells("m", "C")) == {"a": 1.0} and store.head("m") == top
    assert commit(store, CellChange("C", "a", 2.0), base=top) > other.head


def test_snapshots(store: Store) -> None:
    c1 = commit(store, CellChange("C", "a", 1.0))
    snap = store.create_snapshot("m", "Budget as submitted", c1, "ann", "v1")
    assert store.get_snapshot("m", "Budget as submitted") == snap
    assert store.get_snapshot("m", "nope") is None
    assert [s.name for s in store.list_snapshots("m")] == ["Budget as submitted"]


def test_delete_model_removes_everything(store: Store) -> None:
    commit(store, CellChange("C", "a", 1.0))
    store.delete_model("m")
    assert store.get_model("m") is None
    assert store.list_commits("m") == []
    assert store.load_cells("m", "C").num_rows == 0


def test_commit_to_two_models_keeps_them_apart(store: Store) -> None:
    store.create_model("other", "")
    commit(store, CellChange("C", "a", 1.0))
    store.commit("other", [CellChange("C", "a", 9.0)], author="x", message="", source="api")
    assert cells(store.load_cells("m", "C")) == {"a": 1.0}
    assert cells(store.load_cells("other", "C")) == {"a": 9.0}


@pytest.mark.parametrize("n", [3, 450])  # inline VALUES below 200 rows, a staged relation above
def test_small_and_large_batches_behave_alike(store: Store, n: int) -> None:
    first = [CellChange("C", f"a{i}", float(i)) for i in range(n)]
    base = commit(store, *first)
    bob = commit(store, CellChange("C", "a1", -1.0), author="bob", session="s-bob")
    second = [CellChange("C", f"a{i}", float(i) + 0.5) for i in range(n)]
    with pytest.raises(StoreConflict) as exc:
        commit(store, *second, base=base)
    assert [(c.addr, c.commit_id) for c in exc.value.cells] == [("a1", bob)]
    second[1] = CellChange("C", "a1", -1.0)  # agree with bob: no conflict, no change
    result = store.commit(
        "m", second, author="ann", message="", source="api", base=bob, session="s-ann"
    )
    assert len(result.changes) == n - 1
    stored = cells(store.load_cells("m", "C"))
    assert stored["a0"] == 0.5 and stored["a1"] == -1.0 and len(stored) == n
    history = store.commit_changes("m", result.head)
    assert sorted((h.addr, h.old_num, h.new_num) for h in history)[0] == ("a0", 0.0, 0.5)


@pytest.mark.parametrize("n", [3, 450])
def test_one_commit_updates_known_cells_and_inserts_new_ones(store: Store, n: int) -> None:
    commit(store, *(CellChange("C", f"a{i}", float(i)) for i in range(n)))
    mixed = [CellChange("C", f"a{i}", float(i) + 0.5) for i in range(0, 2 * n, 2)]  # half new
    head = commit(store, *mixed, CellChange("C", "a1", None))
    stored = cells(store.load_cells("m", "C"))
    assert stored == {
        **{f"a{i}": float(i) for i in range(n) if i % 2 and i != 1},
        **{f"a{i}": float(i) + 0.5 for i in range(0, 2 * n, 2)},
    }
    history = {h.addr: (h.old_num, h.new_num) for h in store.commit_changes("m", head)}
    assert history["a0"] == (0.0, 0.5) and history[f"a{2 * n - 2}"] == (None, 2 * n - 1.5)
    assert history["a1"] == (1.0, None)


def test_only_the_writers_own_session_is_exempt(store: Store) -> None:
    base = commit(store, CellChange("C", "a", 1.0))
    mine = commit(store, CellChange("C", "a", 2.0), session="tab-1")
    commit(store, CellChange("C", "a", 3.0), base=base, session="tab-1")  # own edit in flight
    for author, session in [("ann", "tab-2"), ("ann", None), ("bob", "tab-1")]:
        with pytest.raises(StoreConflict) as exc:
            commit(store, CellChange("C", "a", 9.0), base=base, author=author, session=session)
        assert exc.value.cells[0].commit_id > mine


def test_a_store_made_before_sessions_opens_and_checks_by_session(store_url: str) -> None:
    """The ``session`` column is added to an existing store; its old commits have none."""
    old = open_store(store_url)
    old.create_model("m", "")
    base = commit(old, CellChange("C", "a", 1.0))
    commit(old, CellChange("C", "a", 2.0), session=None)
    with old.transaction() as tx:  # back to a database from before migrations and sessions
        migrate.downgrade(tx.connection, "0001")
        tx.cursor.execute("DROP TABLE alembic_version")
        tx.cursor.execute("ALTER TABLE commits DROP COLUMN session")
    old.close()
    store = open_store(store_url)
    try:
        with pytest.raises(StoreConflict):  # a commit without a session is nobody's own
            commit(store, CellChange("C", "a", 3.0), base=base, session="s-ann")
        head = commit(store, CellChange("C", "a", 3.0), base=base + 1, session="s-ann")
        commit(store, CellChange("C", "a", 4.0), base=base + 1, session="s-ann")
        assert store.head("m") == head + 1
    finally:
        store.close()


def test_a_commits_changes_are_read_a_page_at_a_time(store: Store) -> None:
    head = commit(store, *(CellChange("C", f"a{i:03}", float(i)) for i in range(250)))
    everything = [h.addr for h in store.commit_changes("m", head)]
    assert everything == sorted(everything) and len(everything) == 250
    pages = [store.commit_changes("m", head, limit=100, offset=k) for k in (0, 100, 200, 300)]
    assert [len(p) for p in pages] == [100, 100, 50, 0]
    assert [h.addr for p in pages for h in p] == everything
