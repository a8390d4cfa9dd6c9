"""Names are normalized and invisible characters refused, so no name has an invisible twin."""

from __future__ import annotations

from typing import Any

import pytest

from server.names import normalize, problem
from tests.server.helpers import error, load_small, write

ELEMENTS = "/api/models/small/dimensions/Account/elements"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Cafe\u0301", "Café"),  # NFD, as a Mac keyboard may send it
        ("  Airfare ", "Airfare"),
        ("Sales\u00a0East", "Sales East"),  # a non-breaking space, pasted from a sheet
        ("Sales  \u2009 East", "Sales East"),
        ("Travel/Meals", "Travel/Meals"),
    ],
)
def test_names_are_stored_normalized(typed: str, stored: str) -> None:
    assert normalize(typed) == stored
    assert problem(normalize(typed)) is None


@pytest.mark.parametrize(
    ("name", "code_point"),
    [
        ("Air\u200bfare", "U+200B"),  # zero-width space
        ("Air\u202efare", "U+202E"),  # right-to-left override
        ("\ufeffAirfare", "U+FEFF"),  # byte-order mark
        ("Air\u2028fare", "U+2028"),  # line separator
        ("Air\u0085fare", "U+0085"),  # next line (C1 control)
        ("Air\tfare", "U+0009"),  # (a NUL never gets here: see test_errors, NUL characters)
        ("Air\ue000fare", "U+E000"),  # private use
    ],
)
def test_an_invisible_character_is_refused_naming_it(
    client: Any, name: str, code_point: str
) -> None:
    load_small(client)
    err = error(client.post(ELEMENTS, json=[{"name": name}]), 422, "invalid")
    assert code_point in err["message"] and "position" in err["message"]
    assert all(e["name"] != name for e in client.get(ELEMENTS[:-9]).json()["elements"])


def test_a_lone_space_and_an_nfd_twin_are_refused(client: Any) -> None:
    load_small(client)
    error(client.post(ELEMENTS, json=[{"name": " "}]), 422, "invalid")
    error(client.post(ELEMENTS, json=[{"name": "Rent\u200b"}]), 422, "invalid")
    r = client.post(ELEMENTS, json=[{"name": "Cafe\u0301", "parents": [{"name": "Cost"}]}])
    assert r.status_code == 200, r.text
    names = [e["name"] for e in client.get(ELEMENTS[:-9]).json()["elements"]]
    assert "Café" in names and "Cafe\u0301" not in names
    # written as NFD or NFC, it is one cell; and upserting the twin changes nothing
    write(client, [(["Actual", "Cafe\u0301", "Jan", "Amount"], 5.0)])
    write(client, [(["Actual", "Café", "Feb", "Amount"], 7.0)])
    assert client.post(ELEMENTS, json=[{"name": "Café"}]).json()["elements"] == len(names)
    r = client.get(
        "/api/models/small/cubes/PnL/cells/history",
        params={"e": ["Actual", "Cafe\u0301", "Jan", "Amount"]},
    )
    assert r.status_code == 200, r.text
    assert [h["new"] for h in r.json()] == [5.0]


def test_an_alias_with_an_invisible_character_is_refused(client: Any) -> None:
    load_small(client)
    r = client.post(ELEMENTS, json=[{"name": "Rev", "attributes": {"Code": "40\u200b00"}}])
    err = error(r, 422, "invalid_model")
    assert "U+200B" in err["message"]


@pytest.mark.parametrize("name", ["a/b", ".", "..", "Air\u200bfare"])
def test_a_model_name_must_round_trip_through_the_url(client: Any, name: str) -> None:
    error(client.post("/api/models", json={"name": name}), 422, "invalid")
    assert client.get("/api/models").json() == []


def test_an_element_named_with_a_slash_can_be_deleted(client: Any) -> None:
    load_small(client)
    r = client.post(ELEMENTS, json=[{"name": "Travel/Meals", "parents": [{"name": "Cost"}]}])
    assert r.status_code == 200, r.text
    r = client.delete(f"{ELEMENTS}/Travel%2FMeals")
    assert r.status_code == 200, r.text
    names = [e["name"] for e in client.get(ELEMENTS[:-9]).json()["elements"]]
    assert "Travel/Meals" not in names and "Travel" in names
