"""Cell writes: one commit per batch, all or nothing, optimistic conflicts, history, revert."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.server.helpers import SMALL_MODEL, cell, error, load_small, view, write
from tests.signin import as_user

JAN = ["Actual", "Rev", "Jan", "Amount"]
FEB = ["Actual", "Rev", "Feb", "Amount"]
SAL = ["Actual", "Salaries", "Jan", "Amount"]


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client)
    return client


def head(client: Any) -> int:
    return int(client.get("/api/models/small").json()["head"])


def test_a_batch_is_one_commit_and_totals_are_current(small: Any) -> None:
    r = write(small, [(JAN, 100), (SAL, 30), (["Actual", "Rev", "Jan", "Note"], "ok")])
    assert r.status_code == 200, r.text
    commit = r.json()["commit"]
    assert commit["cells"] == 3 and commit["author"] == "ann" and commit["source"] == "api"
    assert r.json()["head"] == commit["id"] == head(small)
    assert cell(view(small), "Net", "Q1") == 70
    detail = small.get(f"/api/models/small/commits/{commit['id']}").json()
    changes = {
        (c["elements"][1], c["elements"][3]): (c["old"], c["new"]) for c in detail["changes"]
    }
    assert changes == {
        ("Rev", "Amount"): (None, 100.0),
        ("Rev", "Note"): (None, "ok"),
        ("Salaries", "Amount"): (None, 30.0),
    }


def test_elements_by_dimension_name_and_clearing(small: Any) -> None:
    body = {
        "cells": [
            {
                "elements": {
                    "Version": "Actual",
                    "Account": "Rev",
                    "Month": "Jan",
                    "Measure": "Amount",
                },
                "value": 12.5,
            }
        ]
    }
    assert small.post("/api/models/small/cubes/PnL/cells", json=body).status_code == 200
    assert cell(view(small), "Rev", "Jan") == 12.5
    assert write(small, [(JAN, None)]).status_code == 200
    assert cell(view(small), "Rev", "Jan") == 0


def test_rewriting_the_same_value_makes_no_commit(small: Any) -> None:
    first = write(small, [(JAN, 5)]).json()
    again = write(small, [(JAN, 5)]).json()
    assert again["commit"] is None and again["head"] == first["head"] and again["changed"] == 0


@pytest.mark.parametrize(
    ("cells", "status", "code", "detail"),
    [
        ([(["Actual", "Net", "Jan", "Amount"], 1)], 422, "cell_not_writable", {"element": "Net"}),
        ([(["Actual", "Rev", "Q1", "Amount"], 1)], 422, "cell_not_writable", {"element": "Q1"}),
        (
            [(JAN, 1), (["Actual", "Bogus", "Jan", "Amount"], 1)],
            404,
            "element_not_found",
            {"element": "Bogus", "cell": 1},
        ),
        ([(JAN, "12x")], 422, "invalid_value", {"cell": 0, "value": "12x"}),
        ([(["Actual", "Rev", "Jan", "Note"], 5)], 422, "invalid_value", {"cell": 0}),
        ([(["Actual", "Rev", "Jan"], 5)], 422, "invalid_value", {"cell": 0}),
        ([(JAN, 1), (FEB, 2), (JAN, 3)], 422, "invalid_value", {"cell": 2}),
    ],
)
def test_bad_writes_name_the_cell_and_write_nothing(
    small: Any, cells: list[Any], status: int, code: str, detail: dict[str, Any]
) -> None:
    before = head(small)
    err = error(write(small, cells), status, code)
    for k, v in detail.items():
        assert err["details"][k] == v, err
    assert head(small) == before
    assert cell(view(small), "Rev", "Jan") == 0


def test_malformed_body_gets_the_error_shape(small: Any) -> None:
    r = small.post("/api/models/small/cubes/PnL/cells", json={"cells": []})
    err = error(r, 422, "invalid")
    assert err["details"]["problems"][0]["location"][-1] == "cells"
    r = small.post(
        "/api/models/small/cubes/PnL/cells",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    err = error(r, 400, "invalid_json")
    assert err["details"]["position"] == 1 and "at character 1" in err["message"]


def test_conflict_answers_409_with_the_cells_and_writes_nothing(small: Any) -> None:
    base = write(small, [(JAN, 1), (FEB, 1)], user="ann").json()["head"]
    bob = write(small, [(JAN, 2)], user="bob", base=base).json()["commit"]
    r = write(small, [(JAN, 3), (FEB, 3)], user="ann", base=base)
    err = error(r, 409, "write_conflict")
    [c] = err["details"]["cells"]
    assert c == {
        "cube": "PnL",
        "elements": JAN,
        "value": 2.0,
        "commit": bob["id"],
        "author": "bob",
        "time": bob["time"],
    }
    body = view(small)
    assert (cell(body, "Rev", "Jan"), cell(body, "Rev", "Feb")) == (2.0, 1.0)
    # an edit to another cell with the same stale base goes through
    assert write(small, [(FEB, 4)], user="ann", base=base).status_code == 200
    assert cell(view(small), "Rev", "Feb") == 4.0


def test_a_base_commit_after_the_head_is_refused_and_writes_nothing(small: Any) -> None:
    top = write(small, [(JAN, 1)]).json()["head"]
    for base in (top + 1, 99_999):
        err = error(write(small, [(JAN, 5)], base=base), 422, "base_commit_ahead")
        assert err["details"] == {"model": "small", "base_commit": base, "head": top}
        assert f"head is commit {top}" in err["message"]
    # refused even when the cells hold the values already (no commit either way)
    error(write(small, [(JAN, 1)], base=top + 1), 422, "base_commit_ahead")
    assert head(small) == top and cell(view(small), "Rev", "Jan") == 1.0
    assert write(small, [(JAN, 5)], base=top).status_code == 200


def test_a_negative_base_commit_is_refused(small: Any) -> None:
    err = error(write(small, [(JAN, 5)], base=-1), 422, "invalid")
    assert err["details"]["problems"][0]["location"][-1] == "base_commit"
    assert head(small) == 0


def test_base_commits_follow_the_sequence_shared_by_models(small: Any) -> None:
    """Commit ids rise across models: a base past this model's head is refused, one between
    this model's commits (another model's commit id) is a point in time and accepted."""
    small_head = write(small, [(JAN, 1)]).json()["head"]
    data = {"PnL": [["Actual", "Rev", "Jan", "Amount", 7]]}
    other = {**SMALL_MODEL, "name": "other", "data": data}
    other_head = small.post("/api/models/import", json=other).json()["head"]
    assert other_head > small_head
    err = error(write(small, [(JAN, 2)], base=other_head), 422, "base_commit_ahead")
    assert err["details"]["head"] == small_head
    later = write(small, [(FEB, 1)]).json()["head"]
    assert later > other_head
    assert write(small, [(JAN, 2)], base=other_head).status_code == 200


def test_cell_history(small: Any) -> None:
    write(small, [(JAN, 1)], user="ann")
    write(small, [(JAN, 2)], user="bob")
    r = small.get("/api/models/small/cubes/PnL/cells/history", params={"e": JAN})
    assert [(h["commit"]["author"], h["old"], h["new"]) for h in r.json()] == [
        ("ann", None, 1.0),
        ("bob", 1.0, 2.0),
    ]
    error(
        small.get(
            "/api/models/small/cubes/PnL/cells/history",
            params={"e": ["Actual", "Nope", "Jan", "Amount"]},
        ),
        404,
        "element_not_found",
    )


def test_revert_is_a_new_commit(small: Any) -> None:
    write(small, [(JAN, 1)])
    c2 = write(small, [(JAN, 5), (SAL, 2)]).json()["commit"]["id"]
    r = small.post(f"/api/models/small/commits/{c2}/revert", headers=as_user(small, "cat"))
    assert r.status_code == 200, r.text
    revert = r.json()["commit"]
    assert revert["reverts"] == c2 and revert["source"] == "revert" and revert["author"] == "cat"
    body = view(small)
    assert (cell(body, "Rev", "Jan"), cell(body, "Salaries", "Jan")) == (1.0, 0.0)
    commits = small.get("/api/models/small/commits").json()
    assert [c["id"] for c in commits][:2] == [revert["id"], c2]


def test_revert_refuses_to_undo_later_work_unless_forced(small: Any) -> None:
    c1 = write(small, [(JAN, 1)], user="ann").json()["commit"]["id"]
    write(small, [(JAN, 7)], user="ann")
    err = error(small.post(f"/api/models/small/commits/{c1}/revert"), 409, "write_conflict")
    assert err["details"]["cells"][0]["value"] == 7.0
    assert cell(view(small), "Rev", "Jan") == 7.0
    r = small.post(f"/api/models/small/commits/{c1}/revert", json={"force": True})
    assert r.status_code == 200
    assert cell(view(small), "Rev", "Jan") == 0.0
    error(small.post("/api/models/small/commits/9999/revert"), 404, "commit_not_found")


def test_snapshots_api(small: Any) -> None:
    c1 = write(small, [(JAN, 1)]).json()["head"]
    r = small.post("/api/models/small/snapshots", json={"name": "Budget v1", "description": "x"})
    assert r.status_code == 201 and r.json()["commit"] == c1
    error(
        small.post("/api/models/small/snapshots", json={"name": "Budget v1"}), 409, "already_exists"
    )
    error(
        small.post("/api/models/small/snapshots", json={"name": "v2", "commit": 999}),
        404,
        "commit_not_found",
    )
    assert [s["name"] for s in small.get("/api/models/small/snapshots").json()] == ["Budget v1"]
    assert small.get("/api/models/small/snapshots/Budget v1").json()["commit"] == c1
    error(small.get("/api/models/small/snapshots/none"), 404, "snapshot_not_found")


def _longest_pause(work: Callable[[], object]) -> tuple[float, float]:
    """Run ``work`` in a thread while this one ticks: (the longest gap between ticks, seconds
    the work took). A call that holds the GIL throughout is one long gap."""
    done = threading.Event()
    took: list[float] = []

    def run() -> None:
        start = time.perf_counter()
        work()
        took.append(time.perf_counter() - start)
        done.set()

    thread = threading.Thread(target=run)
    last, gap = time.perf_counter(), 0.0
    thread.start()
    while not done.is_set():
        time.sleep(0.001)
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    thread.join()
    return gap, took[0]


def test_a_big_batch_is_parsed_without_stopping_other_threads() -> None:
    """Off the event loop is not enough: orjson's one call and the garbage collector's full
    collections over a big body's millions of objects hold the GIL, and every other thread —
    the event loop, so every other request — waits. ``parse_body`` keeps those pauses short."""
    import orjson

    from server.api.route import parse_body
    from server.services.cells import WriteBatch

    cells = [{"elements": [f"i{n}", "Amount"], "value": float(n)} for n in range(200_000)]
    raw = orjson.dumps({"cells": cells})

    def plain() -> None:
        WriteBatch.model_validate(orjson.loads(raw))

    def median_gap(work: Callable[[], object]) -> float:
        return sorted(_longest_pause(work)[0] for _ in range(3))[1]

    assert median_gap(lambda: parse_body(raw, WriteBatch.model_validate)) < median_gap(plain) / 2
    assert parse_body(raw, WriteBatch.model_validate) == WriteBatch.model_validate_json(raw)


def test_a_big_batchs_invalid_cell_is_named_by_its_place_in_the_whole_batch(client: Any) -> None:
    load_small(client)
    cells: list[dict[str, Any]] = [
        {"elements": ["Actual", "Rev", "Jan", "Amount"], "value": 1.0} for _ in range(12_000)
    ]
    cells[11_001] = {"elements": ["Actual", "Rev", "Jan", "Amount"], "value": [1]}
    r = client.post("/api/models/small/cubes/PnL/cells", json={"cells": cells})
    body = error(r, 422, "invalid")
    assert body["details"]["problems"][0]["location"][:3] == ["body", "cells", 11_001]


def test_one_snapshot_name_made_by_many_at_once_is_one_201_and_the_rest_409(small: Any) -> None:
    """The existence check and the insert happen under the model's lock: the unique key never
    surfaces as a driver error (a 500)."""
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def make() -> None:
        start.wait()
        r = small.post("/api/models/small/snapshots", json={"name": "close"})
        with lock:
            statuses.append(r.status_code)
        if r.status_code == 409:
            error(r, 409, "already_exists")

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * 7
    assert [s["name"] for s in small.get("/api/models/small/snapshots").json()] == ["close"]
