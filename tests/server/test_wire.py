"""Strict types on the wire: no bool for a number, no float or text for an id, ids bounded.

Each row sends what a sloppy or hostile client might, and the answer must be a 422 naming the
field, with nothing written.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.server.helpers import SMALL_MODEL, VIEW, error, load_small, view

JAN = ["Actual", "Rev", "Jan", "Amount"]
CELLS = "/api/models/small/cubes/PnL/cells"
MAX_ID = 2**62  # within the stores' BIGINT


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client)
    assert client.post(CELLS, json={"cells": [{"elements": JAN, "value": 1}]}).status_code == 200
    return client


def where(err: dict[str, Any]) -> list[Any]:
    location: list[Any] = err["details"]["problems"][0]["location"]
    return location


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_not_a_number(small: Any, value: bool) -> None:
    r = small.post(CELLS, json={"cells": [{"elements": JAN, "value": value}]})
    assert where(error(r, 422, "invalid"))[:4] == ["body", "cells", 0, "value"]
    assert small.get("/api/models/small").json()["head"] == 1


@pytest.mark.parametrize("base", [2**70, 2**63, 2**62 + 1, -1, True, 1.0, "1"])
def test_base_commits_are_bounded_integers(small: Any, base: Any) -> None:
    r = small.post(CELLS, json={"cells": [{"elements": JAN, "value": 2}], "base_commit": base})
    assert where(error(r, 422, "invalid")) == ["body", "base_commit"]
    body = {"elements": JAN, "value": 2, "base_commit": base}
    r = small.post("/api/models/small/cubes/PnL/spread", json=body)
    assert where(error(r, 422, "invalid")) == ["body", "base_commit"]
    assert small.get("/api/models/small").json()["head"] == 1


def test_the_largest_base_commit_is_an_ordinary_id(small: Any) -> None:
    """2^62 passes the type and reaches the store like any id: it is after the head (a 422
    naming the head, no overflow on the way), while the head itself is a fine base."""
    r = small.post(CELLS, json={"cells": [{"elements": JAN, "value": 2}], "base_commit": MAX_ID})
    err = error(r, 422, "base_commit_ahead")
    assert err["details"]["base_commit"] == MAX_ID and err["details"]["head"] == 1
    r = small.post(CELLS, json={"cells": [{"elements": JAN, "value": 3}], "base_commit": 1})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/models/small/cubes/PnL/spread", {"elements": JAN, "value": True}, ["value"]),
        ("/api/models/small/cubes/PnL/view", {**VIEW, "as_of": True}, ["as_of"]),
        ("/api/models/small/cubes/PnL/view", {**VIEW, "as_of": 1.0}, ["as_of"]),
        ("/api/models/small/cubes/PnL/view", {**VIEW, "as_of": 2**70}, ["as_of"]),
        ("/api/models/small/snapshots", {"name": "s", "commit": True}, ["commit"]),
        ("/api/models/small/snapshots", {"name": "s", "commit": 2**64}, ["commit"]),
        ("/api/models/small/commits/1/revert", {"force": "yes"}, ["force"]),
        ("/api/models/small/commits/1/revert", {"force": 1}, ["force"]),
    ],
)
def test_numbers_ids_and_flags_are_strict(
    small: Any, url: str, body: dict[str, Any], field: list[str]
) -> None:
    assert where(error(small.post(url, json=body), 422, "invalid"))[1:] == field
    assert small.get("/api/models/small").json()["head"] == 1
    assert small.get("/api/models/small/snapshots").json() == []


def _weighted(m: dict[str, Any]) -> None:
    m["dimensions"][0]["elements"][0] = {
        "name": "Net",
        "children": [{"name": "Rev", "weight": True}, {"name": "Cost", "weight": -1}],
    }


def _number_attribute(m: dict[str, Any]) -> None:
    m["dimensions"][0]["attributes"]["Size"] = "number"
    m["dimensions"][0]["elements"][1] = {"name": "Rev", "attributes": {"Size": True}}


def _bool_data(m: dict[str, Any]) -> None:
    m["data"] = {"PnL": [[*JAN, True]]}


@pytest.mark.parametrize("change", [_weighted, _number_attribute, _bool_data])
def test_model_files_are_strict_too(client: Any, change: Any) -> None:
    model = copy.deepcopy(SMALL_MODEL)
    change(model)
    r = client.post("/api/models/import", json=model)
    assert r.status_code == 422, r.text
    assert client.get("/api/models").json() == []


def test_a_format_version_must_be_a_known_integer(client: Any) -> None:
    for version in (True, 2, "1"):
        r = client.post("/api/models/import", json={**SMALL_MODEL, "plancube": version})
        assert where(error(r, 422, "invalid_model"))[0] == "plancube"


def test_element_upserts_are_strict(small: Any) -> None:
    body = [{"name": "Rev", "parents": [{"name": "Net", "weight": True}]}]
    r = small.post("/api/models/small/dimensions/Account/elements", json=body)
    error(r, 422, "invalid")
    body2 = [{"name": "Rev", "attributes": {"Code": True}}]
    r = small.post("/api/models/small/dimensions/Account/elements", json=body2)
    error(r, 422, "invalid")
    assert view(small)["rows"][1]["elements"] == ["Rev"]
