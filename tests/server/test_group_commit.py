"""Group commit: concurrent writers share one transaction, each keeps its own commit and check.

The store tests run ``commit_many`` on both stores; the queue tests hold the model's write lock
so writers pile up behind it, which makes a group of a known size without relying on timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from server.context import Caller, Context
from server.errors import InvalidValue, StorageUnavailable, WriteConflict
from server.services import cells as cell_service
from server.storage import (
    CellChange,
    CommitRequest,
    CommitResult,
    Store,
    StoreBaseAhead,
    StoreConflict,
    open_store,
)
from server.workspace import Workspace
from tests.server.helpers import cell, load_small, view
from tests.signin import as_user, signed_in

A, B = "Actual\tRev\tJan\tAmount", "Actual\tRev\tFeb\tAmount"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    s.create_model("m", "")
    yield s
    s.close()


def req(
    *changes: CellChange, author: str = "ann", base: int | None = None, session: str | None = None
) -> CommitRequest:
    return CommitRequest(list(changes), author, f"by {author}", "api", base, session)


def test_a_group_is_one_commit_per_writer_in_order(store: Store) -> None:
    out = store.commit_many(
        "m",
        [
            req(CellChange("c", A, 1.0), author="ann"),
            req(CellChange("c", B, 2.0), author="bob"),
            req(CellChange("c", A, 3.0), author="cy"),
        ],
    )
    assert all(isinstance(o, CommitResult) and o.commit is not None for o in out)
    ids = [o.commit.id for o in out]  # type: ignore[union-attr]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [o.commit.author for o in out] == ["ann", "bob", "cy"]  # type: ignore[union-attr]
    assert store.head("m") == ids[-1]
    # the third writer's old value is the first writer's new one: history chains in the group
    history = store.cell_history("m", "c", A)
    assert [(h.commit.id, h.old_num, h.new_num) for h in history] == [
        (ids[0], None, 1.0),
        (ids[2], 1.0, 3.0),
    ]
    assert [(c.commit.id, c.commit.message) for c in store.commit_changes("m", ids[1])] == [
        (ids[1], "by bob")
    ]
    stored = {r["addr"]: r["num"] for r in store.load_cells("m", "c").to_pylist()}
    assert stored == {A: 3.0, B: 2.0}


def test_a_cell_written_earlier_in_the_group_is_a_later_writers_conflict(store: Store) -> None:
    head = store.commit("m", [CellChange("c", A, 1.0)], author="x", message="", source="api").head
    out = store.commit_many(
        "m",
        [
            req(CellChange("c", A, 2.0), author="ann", base=head, session="s1"),
            req(CellChange("c", A, 3.0), CellChange("c", B, 3.0), author="bob", base=head),
            req(CellChange("c", A, 4.0), author="ann", base=head, session="s1"),  # own edit
            req(CellChange("c", B, 5.0), author="cy", base=head + 10**6),
            req(CellChange("c", B, 6.0), author="dee", base=head),
        ],
    )
    first, conflict, own, ahead, other = out
    assert isinstance(first, CommitResult) and first.commit is not None
    assert isinstance(conflict, StoreConflict)
    assert [(c.addr, c.num, c.commit_id, c.author) for c in conflict.cells] == [
        (A, 2.0, first.commit.id, "ann")
    ]
    assert isinstance(own, CommitResult) and own.commit is not None  # same session: no conflict
    assert isinstance(ahead, StoreBaseAhead) and ahead.head == head
    # bob's refused write left B alone, so dee's base still holds for it
    assert isinstance(other, CommitResult) and other.commit is not None
    stored = {r["addr"]: r["num"] for r in store.load_cells("m", "c").to_pylist()}
    assert stored == {A: 4.0, B: 6.0}
    assert store.head("m") == other.commit.id


def test_a_group_without_a_change_commits_nothing(store: Store) -> None:
    head = store.commit("m", [CellChange("c", A, 1.0)], author="x", message="", source="api").head
    out = store.commit_many("m", [req(CellChange("c", A, 1.0)), req(CellChange("c", B))])
    assert [o.commit for o in out] == [None, None]  # type: ignore[union-attr]
    assert [o.head for o in out] == [head, head]  # type: ignore[union-attr]
    assert store.head("m") == head
    assert len(store.list_commits("m")) == 1


# -- the queue in the server ------------------------------------------------------------------


@pytest.fixture
def ws(store_url: str) -> Iterator[Workspace]:

    from server.app import create_app

    app = create_app(store_url)
    with signed_in(app) as client:
        load_small(client)
        workspace: Workspace = app.state.workspace
        yield workspace


LEAVES = [(a, m) for a in ("Rev", "Salaries", "Rent", "Travel") for m in ("Jan", "Feb", "Mar")]


def _batch(leaf: int, value: Any, base: int | None = None) -> cell_service.WriteBatch:
    account, month = LEAVES[leaf]
    return cell_service.WriteBatch.model_validate(
        {
            "cells": [{"elements": ["Actual", account, month, "Amount"], "value": value}],
            "base_commit": base,
        }
    )


def _value(ws: Workspace, leaf: int) -> float:
    rt = ws.runtime("small")
    account, month = LEAVES[leaf]
    return float(
        rt.engine.cube("PnL").values[rt.coord("PnL", ["Actual", account, month, "Amount"])]
    )


def _queued(
    ws: Workspace, writers: list[tuple[str, cell_service.WriteBatch]]
) -> tuple[list[Any], list[int]]:
    """Start the writers while the write lock is held; release it once all are in line."""
    rt = ws.runtime("small")
    answers: list[Any] = [None] * len(writers)
    groups: list[int] = []
    real = cell_service._commit_group

    def counting(w: Workspace, r: Any, group: Any) -> None:
        groups.append(len(group))
        real(w, r, group)

    # each writer's context resolved here, in order (its role read from the directory once)
    contexts = [Context(ws, Caller(user_id=user, name=user), "small") for user, _ in writers]
    for ctx in contexts:
        assert ctx.masks.open

    def work(i: int, user: str, batch: cell_service.WriteBatch) -> None:
        try:
            answers[i] = cell_service.write(contexts[i], "PnL", batch)
        except Exception as exc:
            answers[i] = exc

    cell_service._commit_group = counting  # type: ignore[assignment]
    try:
        with rt.write_lock:
            threads = [threading.Thread(target=work, args=(i, *w)) for i, w in enumerate(writers)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            # one writer leads and waits for the lock; the others wait in line behind it
            while len(rt.commits._waiting) < len(writers) - 1:
                assert time.monotonic() < deadline, "writers did not queue"
                time.sleep(0.005)
        for t in threads:
            t.join(30)
    finally:
        cell_service._commit_group = real
    return answers, groups


def test_writers_waiting_for_a_commit_share_the_next_one(ws: Workspace) -> None:
    answers, groups = _queued(ws, [(f"u{i}", _batch(i, float(i + 1))) for i in range(6)])
    assert groups == [1, 5]  # the leader alone (it held the line), then everyone behind it
    commits = [a["commit"]["id"] for a in answers]
    assert len(set(commits)) == 6
    rt = ws.runtime("small")
    assert rt.engine.head == max(commits) == ws.store.head("small")
    assert [_value(ws, i) for i in range(6)] == [1, 2, 3, 4, 5, 6]


def test_one_writers_bad_batch_or_conflict_fails_only_that_writer(ws: Workspace) -> None:
    head = ws.runtime("small").engine.head
    answers, groups = _queued(
        ws,
        [
            ("lead", _batch(0, 1.0)),
            ("ann", _batch(1, 2.0, base=head)),
            ("bad", _batch(2, "not a number")),
            ("bob", _batch(1, 3.0, base=head)),  # ann wrote this cell in the same group
            ("cy", _batch(3, 4.0, base=head)),
        ],
    )
    assert groups == [1, 4]
    lead, ann, bad, bob, cy = answers
    assert isinstance(bad, InvalidValue)
    assert isinstance(bob, WriteConflict)
    assert bob.details["cells"][0]["author"] == "ann"
    assert bob.details["cells"][0]["commit"] == ann["commit"]["id"]
    assert all(a["commit"] is not None for a in (lead, ann, cy))


def test_a_batch_the_database_refuses_fails_only_its_writer(ws: Workspace) -> None:
    store = ws.store
    real = store.commit_many

    def picky(model: str, requests: Any) -> Any:
        if any(r.author == "poison" for r in requests):
            raise RuntimeError("the database refused poison's batch")
        return real(model, requests)

    store.commit_many = picky  # type: ignore[method-assign]
    try:
        answers, groups = _queued(
            ws,
            [
                ("lead", _batch(0, 1.0)),
                ("ann", _batch(1, 2.0)),
                ("poison", _batch(2, 3.0)),
                ("bob", _batch(3, 4.0)),
            ],
        )
    finally:
        store.commit_many = real  # type: ignore[method-assign]
    assert groups == [1, 3]
    assert isinstance(answers[2], RuntimeError)
    assert all(answers[i]["commit"] is not None for i in (0, 1, 3))
    assert [_value(ws, i) for i in range(4)] == [1.0, 2.0, 0.0, 4.0]
    assert ws.store.head("small") == ws.runtime("small").engine.head


def test_every_acknowledged_write_of_many_threads_is_stored_and_shown(client: Any) -> None:
    """Through HTTP: 16 writers at once, each write read back, all in storage at the end."""
    load_small(client)
    acked: dict[tuple[str, str], list[tuple[int, float]]] = {leaf: [] for leaf in LEAVES}
    lock = threading.Lock()

    def work(k: int) -> None:
        for n in range(8):
            account, month = LEAVES[(k + n) % len(LEAVES)]
            value = float(k * 100 + n)
            r = client.post(
                "/api/models/small/cubes/PnL/cells",
                json={
                    "cells": [{"elements": ["Actual", account, month, "Amount"], "value": value}]
                },
                headers=as_user(client, f"w{k}"),
            )
            assert r.status_code == 200, r.text
            with lock:
                acked[account, month].append((r.json()["commit"]["id"], value))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    body = view(client)
    for (account, month), writes in acked.items():
        history = client.get(
            "/api/models/small/cubes/PnL/cells/history",
            params={"e": ["Actual", account, month, "Amount"]},
        ).json()
        stored = {(h["commit"]["id"], h["new"]) for h in history}
        assert set(writes) <= stored  # every acknowledged write, under the id it was given
        assert len({cid for cid, _ in writes}) == len(writes)
        assert cell(body, account, month) == max(writes)[1]  # the last commit's value shows


def test_a_database_outage_fails_the_group_at_once_not_writer_by_writer(ws: Workspace) -> None:
    """Retrying each writer alone would wait out the connect timeout once per writer."""
    store = ws.store
    real = store.commit_many
    calls: list[int] = []

    def down(model: str, requests: Any) -> Any:
        calls.append(len(requests))
        if len(calls) > 1:
            raise StorageUnavailable("the database does not answer", retry_after=1)
        return real(model, requests)

    store.commit_many = down  # type: ignore[method-assign]
    try:
        answers, groups = _queued(ws, [(f"u{i}", _batch(i, float(i))) for i in range(5)])
    finally:
        store.commit_many = real  # type: ignore[method-assign]
    assert groups == [1, 4] and calls == [1, 4]
    assert answers[0]["commit"] is not None
    assert all(isinstance(a, StorageUnavailable) for a in answers[1:])
