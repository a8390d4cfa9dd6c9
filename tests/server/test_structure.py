"""Models, dimensions, elements and cubes over the API; the model file round trip."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml

from tests.server.helpers import SMALL_MODEL, cell, error, load_small, view, write
from tests.signin import signed_in

JAN = ["Actual", "Rev", "Jan", "Amount"]


def test_model_lifecycle(client: Any) -> None:
    assert client.post("/api/models", json={"name": "m", "description": "d"}).status_code == 201
    error(client.post("/api/models", json={"name": "m"}), 409, "already_exists")
    assert [m["name"] for m in client.get("/api/models").json()] == ["m"]
    assert client.delete("/api/models/m").status_code == 204
    error(client.get("/api/models/m"), 404, "model_not_found")
    error(client.post("/api/models", json={"name": "bad\tname"}), 422, "invalid")


def test_model_file_round_trips_yaml_and_json(client: Any) -> None:
    load_small(
        client, [["Actual", "Rev", "Jan", "Amount", 5.0], ["Actual", "Rev", "Jan", "Note", "hi"]]
    )
    text = client.get("/api/models/small/export", params={"data": True}).text
    exported = yaml.safe_load(text)
    assert exported["data"]["PnL"] == [
        ["Actual", "Rev", "Jan", "Amount", 5.0],
        ["Actual", "Rev", "Jan", "Note", "hi"],
    ]
    assert [d["name"] for d in exported["dimensions"]] == ["Account", "Month", "Version", "Measure"]
    # load it back under another name, as YAML
    exported["name"] = "copy"
    r = client.post(
        "/api/models/import",
        content=yaml.safe_dump(exported),
        headers={"content-type": "application/yaml"},
    )
    assert r.status_code == 201, r.text
    again = client.get("/api/models/copy/export", params={"data": True, "format": "json"}).json()
    exported_json = client.get(
        "/api/models/small/export", params={"data": True, "format": "json"}
    ).json()
    assert {**again, "name": "small"} == exported_json


def test_loading_over_an_existing_model_needs_replace(client: Any) -> None:
    load_small(client)
    err = error(client.post("/api/models/import", json=SMALL_MODEL), 409, "already_exists")
    assert "replace" in err["message"]
    r = client.post(
        "/api/models/import",
        params={"replace": True},
        json={**SMALL_MODEL, "data": {"PnL": [[*JAN, 3.0]]}},
    )
    assert r.status_code == 201
    assert cell(view(client), "Rev", "Jan") == 3.0


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda m: m["dimensions"][0]["elements"].append("Rev"), "Rev"),
        (lambda m: m["dimensions"][0]["elements"][0]["children"].append("Ghost"), "Ghost"),
        (
            lambda m: m["dimensions"][1]["elements"].append({"name": "Jan", "children": ["Q1"]}),
            "Jan",
        ),
        (lambda m: m["cubes"].append({"name": "X", "dimensions": ["Account", "Nope"]}), "Nope"),
        (lambda m: m.update(data={"PnL": [["Actual", "Rev", "Jan", "Amount", "abc"]]}), "abc"),
        (lambda m: m.update(data={"PnL": [["Actual", "Net", "Jan", "Amount", 1]]}), "Net"),
        (lambda m: m.update(data={"PnL": [["Actual", "Rev", "Jan", 1]]}), "row 0"),
        (lambda m: m["dimensions"][0]["elements"][1]["attributes"].update(Colour="red"), "Colour"),
        (lambda m: m["dimensions"][0]["elements"].append({"name": "X", "type": "text"}), "X"),
        (
            lambda m: m["dimensions"][0]["elements"].append(
                {"name": "Z", "attributes": {"Code": "Rev"}}
            ),
            "Rev",
        ),
    ],
)
def test_an_invalid_model_file_is_refused_whole(client: Any, mutate: Any, named: str) -> None:
    model = copy.deepcopy(SMALL_MODEL)
    mutate(model)
    err = error(client.post("/api/models/import", json=model), 422, "invalid_model")
    assert named in err["message"]
    assert client.get("/api/models").json() == []


def test_cycles_are_refused_naming_the_cycle(client: Any) -> None:
    model = copy.deepcopy(SMALL_MODEL)
    model["dimensions"][0]["elements"][2]["children"].append("Net")  # Cost -> Net -> Cost
    err = error(client.post("/api/models/import", json=model), 422, "invalid_model")
    assert set(err["details"]["cycle"]) >= {"Net", "Cost"}


def test_element_upsert_adds_updates_and_links(client: Any) -> None:
    load_small(client, [[*JAN, 100.0]])
    r = client.post(
        "/api/models/small/dimensions/Account/elements",
        json=[
            {"name": "Other Rev", "parents": [{"name": "Net"}], "attributes": {"Code": "4900"}},
            {"name": "Rev", "attributes": {"Code": "4001"}},
        ],
    )
    assert r.status_code == 200, r.text
    assert r.json()["elements"] == 8
    write(client, [(["Actual", "Other Rev", "Jan", "Amount"], 5.0)])
    body = view(client)
    assert cell(body, "Net", "Jan") == 105.0
    dim = client.get("/api/models/small/dimensions/Account").json()
    rev = next(e for e in dim["elements"] if e["name"] == "Rev")
    assert rev["attributes"] == {"Code": "4001"} and rev["leaf"] and rev["parents"] == ["Net"]
    # unknown parent: nothing changes
    err = error(
        client.post(
            "/api/models/small/dimensions/Account/elements",
            json=[{"name": "Y", "parents": [{"name": "Ghost"}]}],
        ),
        404,
        "element_not_found",
    )
    assert err["details"]["element"] == "Ghost"
    assert (
        client.get("/api/models/small/dimensions/Account").json()["elements"][-1]["name"]
        == "Other Rev"
    )


def test_a_hierarchy_built_through_parents_equals_the_same_through_children(client: Any) -> None:
    """The two ways of POST …/elements give one dimension: edges, weights, order, duplicates.

    Parents: Total over a few thousand leaves, an alternate rollup over every third with weight
    -1 (named twice: one edge), a parent whose children the same batch replaces, and an edge
    that exists already. Children: the same as explicit child lists.
    """
    n = 1000
    start = {
        "name": "D",
        "elements": [
            {"name": "Total", "children": ["Old"]},
            "Alt",
            {"name": "Group", "children": ["Old"]},
            "Old",
        ],
    }
    leaves = [f"e{i}" for i in range(n)]
    thirds = leaves[::3]
    via_parents: list[dict[str, Any]] = [{"name": "Group", "children": []}]
    for x in leaves:
        parents = [{"name": "Total"}]
        if x in thirds:
            parents += [{"name": "Alt", "weight": -1}, {"name": "Alt", "weight": -1}]
        if x == "e1":
            parents.append({"name": "Group", "weight": 2})
        via_parents.append({"name": x, "parents": parents})
    via_parents.append({"name": "Old", "parents": [{"name": "Total"}]})  # already its child
    via_children: list[dict[str, Any]] = [{"name": x} for x in leaves] + [
        {"name": "Total", "children": [{"name": x} for x in ["Old", *leaves]]},
        {"name": "Alt", "children": [{"name": x, "weight": -1} for x in thirds]},
        {"name": "Group", "children": [{"name": "e1", "weight": 2}]},
    ]
    got = {}
    for model, batch in (("p", via_parents), ("c", via_children)):
        client.post("/api/models", json={"name": model})
        assert client.post(f"/api/models/{model}/dimensions", json=start).status_code == 201
        r = client.post(f"/api/models/{model}/dimensions/D/elements", json=batch)
        assert r.status_code == 200, r.text
        got[model] = client.get(f"/api/models/{model}/dimensions/D").json()
    assert got["p"] == got["c"]
    by_name = {e["name"]: e for e in got["p"]["elements"]}
    assert [c["name"] for c in by_name["Total"]["children"]] == ["Old", *leaves]
    assert {c["weight"] for c in by_name["Alt"]["children"]} == {-1.0}
    assert len(by_name["Alt"]["children"]) == len(thirds)
    assert by_name["e3"]["parents"] == ["Total", "Alt"]
    assert by_name["Group"]["children"] == [{"name": "e1", "weight": 2.0}]


def test_elements_holding_data_cannot_vanish(client: Any) -> None:
    load_small(client, [[*JAN, 100.0]])
    err = error(client.delete("/api/models/small/dimensions/Account/elements/Rev"), 409, "in_use")
    assert err["details"]["cells_by_element"] == {"Rev": 1}
    err = error(
        client.post(
            "/api/models/small/dimensions/Account/elements",
            json=[{"name": "Rev", "children": [{"name": "Rent"}]}],
        ),
        409,
        "in_use",
    )
    assert cell(view(client), "Rev", "Jan") == 100.0
    # an empty leaf can go
    r = client.delete("/api/models/small/dimensions/Account/elements/Travel")
    assert r.status_code == 200 and r.json()["elements"] == 6


def test_dimension_and_cube_crud(client: Any) -> None:
    client.post("/api/models", json={"name": "m"})
    dim = {"name": "Region", "elements": [{"name": "World", "children": ["EU", "US"]}, "EU", "US"]}
    assert client.post("/api/models/m/dimensions", json=dim).status_code == 201
    error(client.post("/api/models/m/dimensions", json=dim), 409, "already_exists")
    assert client.get("/api/models/m/dimensions").json()[0]["leaves"] == 2
    cube = {"name": "Sales", "dimensions": ["Region"]}
    assert client.post("/api/models/m/cubes", json=cube).status_code == 201
    error(
        client.post("/api/models/m/cubes", json={"name": "X", "dimensions": ["Nope"]}),
        400,
        "bad_request",
    )
    error(
        client.post("/api/models/m/cubes", json={"name": "X", "dimensions": ["Region", "Region"]}),
        400,
        "bad_request",
    )
    error(client.delete("/api/models/m/dimensions/Region"), 409, "in_use")
    error(client.put("/api/models/m/dimensions/Other", json=dim), 400, "bad_request")
    dim2 = {**dim, "elements": [*dim["elements"], "APAC"]}
    dim2["elements"][0] = {"name": "World", "children": ["EU", "US", "APAC"]}
    assert client.put("/api/models/m/dimensions/Region", json=dim2).json()["leaves"] == 3
    assert client.get("/api/models/m/cubes/Sales").json()["leaf_cells"] == 3
    assert client.delete("/api/models/m/cubes/Sales").status_code == 204
    assert client.delete("/api/models/m/dimensions/Region").status_code == 204
    error(client.get("/api/models/m/dimensions/Region"), 404, "dimension_not_found")


def test_structure_survives_a_restart(store_url: str) -> None:

    from server.app import create_app

    with signed_in(create_app(store_url)) as c:
        load_small(c, [[*JAN, 42.0]])
        c.post(
            "/api/models/small/dimensions/Account/elements",
            json=[{"name": "Extra", "parents": [{"name": "Net"}]}],
        )
        write(c, [(["Actual", "Extra", "Jan", "Amount"], 1.0)])
    with signed_in(create_app(store_url)) as c:
        body = view(c)
        assert cell(body, "Net", "Jan") == 43.0


def test_every_error_has_the_one_shape(client: Any) -> None:
    for r in (
        client.get("/api/models/none"),
        client.get("/api/nowhere"),
        client.post("/api/models", json={}),
    ):
        body = r.json()
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message", "details"}
        assert isinstance(body["error"]["code"], str) and body["error"]["message"]


def test_openapi_documents_every_route(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
    # every schema reference resolves (ReDoc refuses the whole page on one that does not)
    refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs and refs <= set(spec["components"]["schemas"]), refs - set(
        spec["components"]["schemas"]
    )
    # the pages and their assets are served here (tests/web/test_api_docs.py renders them)
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = client.get(page).text
        assert f'src="/static/api-docs/{asset}"' in html and "https://" not in html
        assert client.get(f"/static/api-docs/{asset}").status_code == 200
