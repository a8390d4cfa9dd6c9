"""Every free-text field on the wire has a length: one character past it is a 422 naming the
field and the limit, with nothing stored; the limit itself is accepted.

A 10 MB commit message, text cell or description used to be stored and sent back in every read
of it (20 such commits made a 220 MB page of history).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from server.limits import MAX_DESCRIPTION, MAX_FORMULA, MAX_MESSAGE, MAX_TEXT
from server.names import MAX_LENGTH
from tests.server.helpers import SMALL_MODEL, error, load_small

JAN = ["Actual", "Rev", "Jan", "Amount"]
NOTE = ["Actual", "Rev", "Jan", "Note"]
M = "/api/models/small"
CELLS = f"{M}/cubes/PnL/cells"


def text(n: int) -> str:
    return "x" * n


def with_text_attribute(value: str) -> dict[str, Any]:
    model = copy.deepcopy(SMALL_MODEL)
    account = model["dimensions"][0]
    account["attributes"] = {**account["attributes"], "Memo": "text"}
    account["elements"][1] = {"name": "Rev", "attributes": {"Code": "4000", "Memo": value}}
    return model


def with_data_text(value: str) -> dict[str, Any]:
    return {**SMALL_MODEL, "data": {"PnL": [[*NOTE, value]]}}


# (name, limit, request(n) -> (method, url, json body), where the refusal points)
Case = tuple[str, int, Callable[[int], tuple[str, str, Any]], list[Any]]
CASES: list[Case] = [
    (
        "commit message",
        MAX_MESSAGE,
        lambda n: ("POST", CELLS, {"cells": [{"elements": JAN, "value": 1}], "message": text(n)}),
        ["body", "message"],
    ),
    (
        "text cell",
        MAX_TEXT,
        lambda n: ("POST", CELLS, {"cells": [{"elements": NOTE, "value": text(n)}]}),
        ["body", "cells", 0, "value"],
    ),
    (
        "spread message",
        MAX_MESSAGE,
        lambda n: (
            "POST",
            f"{M}/cubes/PnL/spread",
            {"elements": ["Actual", "Cost", "Jan", "Amount"], "value": 3, "message": text(n)},
        ),
        ["body", "message"],
    ),
    (
        "model description",
        MAX_DESCRIPTION,
        lambda n: ("POST", "/api/models", {"name": "other", "description": text(n)}),
        ["body", "description"],
    ),
    (
        "dimension description",
        MAX_DESCRIPTION,
        lambda n: ("POST", f"{M}/dimensions", {"name": "D", "description": text(n)}),
        ["body", "description"],
    ),
    (
        "cube description",
        MAX_DESCRIPTION,
        lambda n: (
            "POST",
            f"{M}/cubes",
            {"name": "C", "dimensions": ["Account"], "description": text(n)},
        ),
        ["body", "description"],
    ),
    (
        "snapshot description",
        MAX_DESCRIPTION,
        lambda n: ("POST", f"{M}/snapshots", {"name": "s", "description": text(n)}),
        ["body", "description"],
    ),
    (
        "rule formula",
        MAX_FORMULA,
        lambda n: (
            "POST",
            f"{M}/cubes/PnL/rules",
            {"name": "r", "target": "Amount", "formula": "=" + "1" * (n - 1)},
        ),
        ["body", "formula"],
    ),
    (
        "text attribute (upsert)",
        MAX_TEXT,
        lambda n: (
            "POST",
            f"{M}/dimensions/Month/elements",
            [{"name": "Jan", "attributes": {"Memo": text(n)}}],
        ),
        ["body", 0, "attributes", "Memo"],
    ),
    (
        "model file: model description",
        MAX_DESCRIPTION,
        lambda n: (
            "POST",
            "/api/models/import?replace=true",
            {**SMALL_MODEL, "description": text(n)},
        ),
        ["description"],
    ),
    (
        "model file: text attribute",
        MAX_TEXT,
        lambda n: ("POST", "/api/models/import?replace=true", with_text_attribute(text(n))),
        ["dimensions", 0, "elements", 1, "attributes", "Memo"],
    ),
    (
        "model file: text cell",
        MAX_TEXT,
        lambda n: ("POST", "/api/models/import?replace=true", with_data_text(text(n))),
        ["data", "PnL", 0, 4],
    ),
    (
        "element name in a write",
        MAX_LENGTH,
        lambda n: ("POST", CELLS, {"cells": [{"elements": ["Actual", text(n), "Jan", "Amount"]}]}),
        ["body", "cells", 0, "elements"],  # (then the branch of the union, list or object)
    ),
]


@pytest.mark.parametrize(
    ("name", "limit", "request_", "location"), CASES, ids=[c[0] for c in CASES]
)
def test_one_character_past_the_limit_is_refused_naming_the_field_and_the_limit(
    client: Any,
    name: str,
    limit: int,
    request_: Callable[[int], tuple[str, str, Any]],
    location: list[Any],
) -> None:
    load_small(client)
    head = client.get(M).json()["head"]
    method, url, body = request_(limit + 1)
    err = error(
        client.request(method, url, json=body),
        422,
        "invalid_model" if "import" in url else "invalid",
    )
    problem = err["details"]["problems"][0]
    assert problem["location"][: len(location)] == location, problem
    assert str(limit) in problem["message"], problem
    assert str(limit) in err["message"] and ".".join(map(str, location)) in err["message"]
    assert client.get(M).json()["head"] == head  # nothing written
    assert client.get(f"{M}/snapshots").json() == []


@pytest.mark.parametrize(
    ("name", "limit", "request_", "location"),
    [c for c in CASES if c[0] != "element name in a write"],
    ids=[c[0] for c in CASES if c[0] != "element name in a write"],
)
def test_the_limit_itself_is_accepted(
    client: Any,
    name: str,
    limit: int,
    request_: Callable[[int], tuple[str, str, Any]],
    location: list[Any],
) -> None:
    load_small(client)
    if "upsert" in name:  # the attribute must be declared first
        client.put(
            f"{M}/dimensions/Month",
            json={
                "name": "Month",
                "role": "time",
                "attributes": {"Memo": "text"},
                "elements": [
                    {"name": "Q1", "children": ["Jan", "Feb", "Mar"]},
                    "Jan",
                    "Feb",
                    "Mar",
                ],
            },
        ).raise_for_status()
    method, url, body = request_(limit)
    r = client.request(method, url, json=body)
    if name == "rule formula":  # long, but a formula: it compiles or not on its merits
        assert r.status_code in (200, 201, 422), r.text
        assert r.json().get("error", {}).get("code") != "invalid"
        return
    assert r.status_code in (200, 201), r.text


def test_a_text_cell_at_the_limit_reads_back_whole(client: Any) -> None:
    load_small(client)
    value = "é" * MAX_TEXT  # characters, not bytes
    r = client.post(CELLS, json={"cells": [{"elements": NOTE, "value": value}]})
    assert r.status_code == 200, r.text
    history = client.get(f"{M}/cubes/PnL/cells/history", params={"e": NOTE}).json()
    assert history[0]["new"] == value
