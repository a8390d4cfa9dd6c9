"""``store.transaction()``: metadata (sqlmodel) and cells (the store's SQL) commit or roll back
together, on one connection, on both stores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from server.storage import CellChange, Store, open_store
from server.storage.metadata import AuditEntry, User


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    s.create_model("m", "")
    yield s
    s.close()


def _write(store: Store, value: float) -> None:
    store.commit("m", [CellChange("C", "a", value)], author="ann", message="", source="api")


def test_metadata_and_cells_commit_together(store: Store) -> None:
    with store.transaction("m") as tx:
        tx.session.add(User(issuer="local", subject="ann", name="Ann"))
        _write(store, 1.0)
        tx.session.add(AuditEntry(action="cell.write", target="m"))
    with store.transaction() as tx:
        assert [u.name for u in tx.session.exec(select(User)).all()] == ["Ann"]
        assert len(tx.session.exec(select(AuditEntry)).all()) == 1
    assert store.load_cells("m", "C").column("num").to_pylist() == [1.0]


def test_a_failure_rolls_back_both(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction("m") as tx:
        tx.session.add(User(issuer="local", subject="bob", name="Bob"))
        _write(store, 2.0)
        raise RuntimeError("part-way")
    with store.transaction() as tx:
        assert tx.session.exec(select(User)).all() == []
    assert store.head("m") == 0 and store.load_cells("m", "C").num_rows == 0


def test_a_metadata_error_at_the_end_rolls_back_the_cells(store: Store) -> None:
    with store.transaction() as tx:
        tx.session.add(User(issuer="local", subject="ann", name="Ann"))
    refused = pytest.raises(Exception, match=r"(?i)duplicate|unique|constraint")
    with refused, store.transaction("m") as tx:
        _write(store, 3.0)
        tx.session.add(User(issuer="local", subject="ann", name="Ann again"))
    assert store.head("m") == 0


def test_the_session_sees_the_cells_sql_and_back(store: Store) -> None:
    with store.transaction("m") as tx:
        tx.session.add(User(id="u1", issuer="local", subject="ann", name="Ann"))
        tx.flush()
        tx.cursor.execute("SELECT name FROM users WHERE id = 'u1'")
        assert tx.cursor.fetchone()[0] == "Ann"
        _write(store, 4.0)
        assert store.head("m") > 0  # read inside: the transaction's own write


def test_units_of_work_do_not_nest(store: Store) -> None:
    outer = store.transaction()
    with outer, pytest.raises(RuntimeError, match="already open"), store.transaction():
        pass
