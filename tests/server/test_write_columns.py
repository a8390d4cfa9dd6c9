"""A big API write checked as columns (``server.services.write_columns``) must agree with the
cell-by-cell check: every write the column check accepts, ``cells.validate`` accepts with the same
changes; everything else goes to ``cells.validate``, which names the problem as before.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from server.access import Access, AccessMasks
from server.services import cells, write_columns
from server.storage import CellBatch
from tests.server.helpers import load_small, view
from tests.signin import as_user

LEAVES = ["Rev", "Salaries", "Rent", "Travel"]
MONTHS = ["Jan", "Feb", "Mar"]
DIMS = ["Version", "Account", "Month", "Measure"]


def every_cell() -> list[list[str]]:
    return [[v, a, m, x] for v in ("Actual", "Budget") for a in LEAVES for m in MONTHS
            for x in ("Amount", "Note")]  # fmt: skip


def clean(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for e in rng.sample(every_cell(), n):
        value: Any = (
            f"note {rng.random():.3f}"
            if e[3] == "Note"
            else rng.choice([round(rng.uniform(-1e6, 1e6), 2), 0.0, rng.randint(-5, 5), None])
        )
        out.append({"elements": e, "value": value})
    return out


SPOILERS = [
    lambda c: {**c, "elements": [c["elements"][0], "Cost", *c["elements"][2:]]},  # consolidated
    lambda c: {**c, "elements": [c["elements"][0], "Nope", *c["elements"][2:]]},  # unknown
    lambda c: {**c, "elements": [c["elements"][0], "4000", *c["elements"][2:]]},  # alias of Rev
    lambda c: {**c, "elements": [f" {c['elements'][0]}", *c["elements"][1:]]},  # needs trimming
    lambda c: {**c, "elements": c["elements"][:3]},  # too few
    lambda c: {**c, "elements": dict(zip(DIMS, c["elements"], strict=True))},  # an object
    lambda c: {"elements": [*c["elements"][:3], "Note"], "value": 12.5},  # number into text
    lambda c: {"elements": [*c["elements"][:3], "Amount"], "value": "12,5"},  # text into number
    lambda c: {"elements": [*c["elements"][:3], "Amount"], "value": 2e15},  # too large
]


def rt_of(client: Any) -> Any:
    return client.app.state.workspace.runtime("small")


def parse(body: list[dict[str, Any]]) -> list[cells.CellWrite]:
    return cells.WriteBatch.model_validate({"cells": body}).cells


def outcome(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # the problem, as the API would name it
        return type(exc).__name__, str(exc)


def test_the_column_check_accepts_only_what_validate_accepts_alike(client: Any) -> None:
    load_small(client)
    rt = rt_of(client)
    rng = random.Random(11)
    taken = 0
    for trial in range(120):
        body = clean(rng, rng.randint(2, 40))
        if trial % 3:  # two in three writes carry one spoiler somewhere, or a repeat
            i = rng.randrange(len(body))
            if rng.random() < 0.15:
                body.append(dict(body[i]))
            else:
                body[i] = rng.choice(SPOILERS)(body[i])
        parsed = outcome(lambda body=body: parse(body))  # type: ignore[misc]
        if isinstance(parsed, tuple):
            continue  # refused by the body's schema before either check
        fast = write_columns.validate(rt, "PnL", parsed, AccessMasks())
        slow = outcome(lambda parsed=parsed: cells.validate(rt, "PnL", parsed))  # type: ignore[misc]
        if fast is None:
            continue
        taken += 1
        assert isinstance(fast, CellBatch)
        assert not isinstance(slow, tuple), (
            f"the column check took a write validate refuses: {slow}"
        )
        assert [(c.cube, c.addr, c.num, c.txt) for c in fast.changes()] == [
            (c.cube, c.addr, c.num, c.txt) for c in slow
        ]
    assert taken >= 30  # the column check was really exercised


def test_security_and_rules_leave_the_write_to_validate(client: Any) -> None:
    load_small(client)
    rt = rt_of(client)
    body = parse([{"elements": ["Actual", "Rent", "Jan", "Amount"], "value": 1.0}] * 1)
    account = rt.hierarchy("Account")
    hidden = np.full(account.size, int(Access.WRITE), dtype=np.int8)
    hidden[account.index["Rent"]] = int(Access.READ)
    assert write_columns.validate(rt, "PnL", body, AccessMasks({"Account": hidden})) is None
    assert write_columns.validate(rt, "PnL", body, AccessMasks()) is not None
    rule = {"name": "r", "target": "Amount", "formula": "=1"}
    r = client.post("/api/models/small/cubes/PnL/rules", json=rule)
    assert r.status_code == 201, r.text
    assert write_columns.validate(rt_of(client), "PnL", body, AccessMasks()) is None


def test_a_big_write_commits_as_columns_with_its_history(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_small(client)
    monkeypatch.setattr(write_columns, "MIN_CELLS", 5)
    seen: list[Any] = []
    real = write_columns.validate
    monkeypatch.setattr(write_columns, "validate", lambda *a: seen.append(real(*a)) or seen[-1])
    body = [
        {"elements": ["Actual", a, m, "Amount"], "value": float(i)}
        for i, (a, m) in enumerate((a, m) for a in LEAVES for m in MONTHS)
    ]
    body.append({"elements": ["Actual", "Rev", "Jan", "Note"], "value": "a note"})
    r = client.post("/api/models/small/cubes/PnL/cells", json={"cells": body},
                    headers=as_user(client, "ann"))  # fmt: skip
    assert r.status_code == 200, r.text
    assert isinstance(seen[-1], CellBatch)  # the column path wrote it
    assert r.json()["changed"] == 13  # 0.0 into an empty cell is a value, as cell by cell
    v = view(client)
    months = [h["elements"][-1] for h in v["columns"]]
    rows = [h["elements"][-1] for h in v["rows"]]
    assert v["values"][rows.index("Rent")][months.index("Feb")] == 7.0
    assert v["values"][rows.index("Cost")][months.index("Q1")] == sum(range(3, 12))
    history = client.get(
        "/api/models/small/cubes/PnL/cells/history",
        params={"e": ["Actual", "Rent", "Feb", "Amount"]},
    )
    assert history.status_code == 200, history.text
    assert [(h["old"], h["new"]) for h in history.json()] == [(None, 7.0)]
    # a problem anywhere in a big write: validate names it, nothing is written
    bad = [*body[:8], {"elements": ["Actual", "Cost", "Jan", "Amount"], "value": 1.0}]
    r = client.post("/api/models/small/cubes/PnL/cells", json={"cells": bad},
                    headers=as_user(client, "ann"))  # fmt: skip
    assert r.status_code == 422 and "cell 8" in r.json()["error"]["message"], r.text
    assert view(client)["values"] == v["values"]
