"""History reads come in pages: a commit of many cells is read a page of changes at a time.

``GET …/commits/{id}`` of a million-cell commit answered 72 MB in 12 s; now it answers 1,000
changes (at most 10,000) with the total and the URL of the next page.
"""

from __future__ import annotations

from typing import Any

import pytest

from server.limits import DEFAULT_CHANGES_PAGE, MAX_CHANGES_PAGE, MAX_COMMITS_PAGE
from tests.server.helpers import error

N = 2_500
MODEL = {
    "name": "wide",
    "dimensions": [
        {"name": "Item", "elements": [f"i{k:04}" for k in range(N)]},
        {"name": "Measure", "role": "measure", "elements": ["Amount"]},
    ],
    "cubes": [{"name": "C", "dimensions": ["Item", "Measure"]}],
    "data": {"C": [[f"i{k:04}", "Amount", float(k)] for k in range(N)]},
}


@pytest.fixture
def wide(client: Any) -> tuple[Any, int]:
    r = client.post("/api/models/import", json=MODEL)
    assert r.status_code == 201, r.text
    return client, r.json()["head"]


def test_a_big_commit_is_read_a_page_at_a_time(wide: tuple[Any, int]) -> None:
    client, head = wide
    url: str | None = f"/api/models/wide/commits/{head}"
    pages = []
    while url is not None:
        page = client.get(url).json()
        assert page["total"] == page["cells"] == N and page["id"] == head
        pages.append(page)
        url = page["next"]
    assert [len(p["changes"]) for p in pages] == [DEFAULT_CHANGES_PAGE] * 2 + [500]
    assert [p["offset"] for p in pages] == [0, 1000, 2000]
    items = [c["elements"][0] for p in pages for c in p["changes"]]
    assert items == [f"i{k:04}" for k in range(N)]
    assert pages[0]["changes"][1] == {
        "cube": "C",
        "elements": ["i0001", "Amount"],
        "old": None,
        "new": 1.0,
    }


def test_the_page_size_is_bounded(wide: tuple[Any, int]) -> None:
    client, head = wide
    url = f"/api/models/wide/commits/{head}"
    whole = client.get(url, params={"limit": MAX_CHANGES_PAGE}).json()
    assert len(whole["changes"]) == N and whole["next"] is None
    past = client.get(url, params={"offset": N}).json()
    assert past["changes"] == [] and past["next"] is None
    for params, words in [
        (
            {"limit": MAX_CHANGES_PAGE + 1},
            "query.limit: Input should be less than or equal to 10000",
        ),
        ({"limit": 0}, "query.limit"),
        ({"offset": -1}, "query.offset"),
    ]:
        assert words in error(client.get(url, params=params), 422, "invalid")["message"]
    err = error(
        client.get("/api/models/wide/commits", params={"limit": MAX_COMMITS_PAGE + 1}),
        422,
        "invalid",
    )
    assert "1000" in err["message"]
