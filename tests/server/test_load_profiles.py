"""Load profiles: saved import mappings, on both stores, used by the import route and the CLI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.server.helpers import error, load_small
from tests.signin import as_user, bearer, token_for

BASE = "/api/models/small/load-profiles"
IMPORT = "/api/models/small/cubes/PnL/import"
CSV = {"Content-Type": "text/csv"}
# a German ERP export: wide months, decimal comma, the version and measure as constants
FILE = "Konto;Jan;Feb\nRev;1,5;2\nRent;3;4,25\n".encode("cp1252")
SPEC = {
    "columns": {"Account": "Konto"},
    "constants": {"Version": "Actual", "Measure": "Amount"},
    "across": "Month",
    "decimal": "comma",
    "delimiter": ";",
    "encoding": "cp1252",
}
PARAMS = {
    "map": ["Account=Konto"],
    "const": ["Version=Actual", "Measure=Amount"],
    "across": "Month",
    "decimal": "comma",
    "delimiter": ";",
    "encoding": "cp1252",
}


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client)
    return client


def stored(client: Any) -> dict[str, Any]:
    t = client.app.state.workspace.store.load_cells("small", "PnL").to_pylist()
    return {r["addr"]: r["num"] if r["txt"] is None else r["txt"] for r in t}


def profiles_in_db(client: Any) -> list[tuple[str, str]]:
    store = client.app.state.workspace.store
    with store.transaction() as tx:
        rows = tx.connection.execute(sa.text("SELECT model, name FROM load_profiles")).all()
    return sorted((r[0], r[1]) for r in rows)


def create(
    client: Any,
    name: str = "erp",
    spec: dict[str, Any] | None = None,
    description: str = "",
    **kw: Any,
) -> Any:
    body = {"name": name, "cube": "PnL", "description": description}
    return client.post(BASE, json={**body, "spec": SPEC if spec is None else spec}, **kw)


def test_crud_and_who_changed_it(small: Any) -> None:
    r = create(small, description="month-end actuals")
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["name"] == "erp" and made["cube"] == "PnL" and made["created_by"] == "admin"
    assert made["spec"]["columns"] == {"Account": "Konto"} and made["spec"]["mode"] == "upsert"
    assert made["updated_at"] == made["created_at"]
    assert small.get(f"{BASE}/erp").json() == made
    assert [p["name"] for p in small.get(BASE).json()] == ["erp"]
    time.sleep(0.002)  # the clock moves on between the two writes (ISO text to microseconds)
    ann = as_user(small, "ann", "small", "modeler")
    change = {"cube": "PnL", "spec": {**SPEC, "mode": "replace"}, "description": "v2"}
    r = small.put(f"{BASE}/erp", json=change, headers=ann)
    assert r.status_code == 200, r.text
    got = small.get(f"{BASE}/erp").json()
    assert got["spec"]["mode"] == "replace" and got["description"] == "v2"
    assert got["created_by"] == "admin" and got["updated_by"] == "ann"
    assert got["updated_at"] > got["created_at"]
    assert small.delete(f"{BASE}/erp").status_code == 204
    error(small.get(f"{BASE}/erp"), 404, "load_profile_not_found")
    error(small.delete(f"{BASE}/erp"), 404, "load_profile_not_found")
    error(small.put(f"{BASE}/erp", json=change), 404, "load_profile_not_found")
    assert small.get(BASE).json() == [] and profiles_in_db(small) == []


def test_a_duplicate_name_is_409_and_changes_nothing(small: Any) -> None:
    assert create(small).status_code == 201
    err = error(
        create(small, spec={"constants": {"Version": "Budget"}}), 409, "load_profile_exists"
    )
    assert "erp" in err["message"]
    assert small.get(f"{BASE}/erp").json()["spec"]["constants"]["Version"] == "Actual"


def test_an_unknown_dimension_or_cube_is_a_422_naming_it(small: Any) -> None:
    bad = {**SPEC, "columns": {"Acount": "Konto"}, "constants": {"Scenario": "x"}}
    err = error(create(small, spec=bad), 422, "invalid_value")
    assert "'Acount', 'Scenario'" in err["message"] and "Account" in err["message"]
    assert err["details"]["unknown"] == ["Acount", "Scenario"]
    err = error(create(small, spec={**SPEC, "across": "Period"}), 422, "invalid_value")
    assert "'Period'" in err["message"]
    r = small.post(BASE, json={"name": "x", "cube": "Sales", "spec": SPEC})
    assert "no cube 'Sales'" in error(r, 422, "invalid_value")["message"]
    r = small.post(BASE, json={"name": "x", "cube": "PnL", "spec": {"mode": "sideways"}})
    assert "spec.mode" in error(r, 422, "invalid")["message"]
    r = small.post(BASE, json={"name": "x", "cube": "PnL", "spec": {"colums": {}}})
    assert "spec.colums" in error(r, 422, "invalid")["message"]  # misspelt: refused
    assert profiles_in_db(small) == []


def test_importing_by_profile_equals_importing_by_parameters(small: Any) -> None:
    r = small.post(IMPORT, content=FILE, headers=CSV, params=PARAMS)
    assert r.status_code == 200, r.text
    by_params = stored(small)
    assert by_params["Actual\tRent\tFeb\tAmount"] == 4.25 and len(by_params) == 4
    # the same cells again, written as a different value, then by the profile back
    small.post(IMPORT, content=FILE.replace(b"1,5", b"9"), headers=CSV, params=PARAMS)
    assert stored(small)["Actual\tRev\tJan\tAmount"] == 9
    assert create(small).status_code == 201
    r = small.post(IMPORT, content=FILE, headers=CSV, params={"profile": "erp"})
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 4 and stored(small) == by_params


def test_parameters_beside_a_profile_override_it_field_by_field(small: Any) -> None:
    assert create(small).status_code == 201
    # const per dimension: Version switches to Budget, Measure stays the profile's
    r = small.post(
        IMPORT, content=FILE, headers=CSV, params={"profile": "erp", "const": "Version=Budget"}
    )
    assert r.status_code == 200, r.text
    assert set(stored(small)) == {
        f"Budget\t{a}\t{m}\tAmount" for a in ("Rev", "Rent") for m in ("Jan", "Feb")
    }
    # a dry run beside it, and mode: replace over the profile's upsert
    body = b"Konto;Jan\nRev;7\n"
    r = small.post(
        IMPORT,
        content=body,
        headers=CSV,
        params={"profile": "erp", "const": "Version=Budget", "mode": "replace", "dry_run": "true"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["would_write"] == 1 and r.json()["would_clear"] == 0
    # a parameter overriding into a mistake is the import's 422, as without a profile
    r = small.post(IMPORT, content=FILE, headers=CSV, params={"profile": "erp", "decimal": "dot"})
    assert [e["reason"] for e in error(r, 422, "import_rejected")["details"]["errors"]] == [
        "not_a_number",
        "not_a_number",
    ]


def test_unknown_profile_404_and_another_cubes_profile_422(small: Any) -> None:
    r = small.post(IMPORT, content=FILE, headers=CSV, params={"profile": "nope"})
    assert "'nope'" in error(r, 404, "load_profile_not_found")["message"]
    r = small.post(IMPORT, content=FILE, headers=CSV, params={"profile": "nope", "background": 1})
    error(r, 404, "load_profile_not_found")
    assert stored(small) == {}
    # a profile of another cube does not load this one
    two = {"name": "Plan", "dimensions": ["Version", "Account", "Month", "Measure"]}
    assert small.post("/api/models/small/cubes", json=two).status_code == 201
    assert small.post(BASE, json={"name": "plan", "cube": "Plan", "spec": SPEC}).status_code == 201
    r = small.post(IMPORT, content=FILE, headers=CSV, params={"profile": "plan"})
    assert "loads cube 'Plan', not 'PnL'" in error(r, 422, "invalid_value")["message"]
    r = small.post(
        "/api/models/small/cubes/Plan/import", content=FILE, headers=CSV, params={"profile": "plan"}
    )
    assert r.status_code == 200 and r.json()["written"] == 4, r.text
    assert stored(small) == {}


def test_a_profile_gone_stale_is_refused_at_import(small: Any) -> None:
    """The model changed after the profile was saved: the import names the dimension."""
    assert create(small).status_code == 201
    store = small.app.state.workspace.store
    with store.transaction() as tx:  # as if saved against an older model
        tx.connection.execute(
            sa.text("UPDATE load_profiles SET spec = :s WHERE name = 'erp'"),
            {"s": '{"columns": {"Region": "Konto"}}'},
        )
    r = small.post(IMPORT, content=FILE, headers=CSV, params={"profile": "erp"})
    assert "'Region'" in error(r, 422, "invalid_value")["message"]


def test_a_background_import_by_profile(small: Any) -> None:
    assert create(small).status_code == 201
    r = small.post(IMPORT, content=FILE, headers=CSV, params={"profile": "erp", "background": 1})
    assert r.status_code == 202, r.text
    url = r.headers["Location"]
    for _ in range(400):
        job = small.get(url).json()
        if job["state"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert job["state"] == "succeeded", job
    assert stored(small)["Actual\tRent\tFeb\tAmount"] == 4.25


def test_deleting_the_model_deletes_its_profiles(small: Any) -> None:
    assert create(small).status_code == 201 and create(small, "other").status_code == 201
    assert profiles_in_db(small) == [("small", "erp"), ("small", "other")]
    assert small.delete("/api/models/small").status_code == 204
    assert profiles_in_db(small) == []
    load_small(small)  # a new model of the same name starts without them
    assert small.get(BASE).json() == []


def test_roles_planners_read_and_modelers_write(small: Any) -> None:
    assert create(small).status_code == 201
    viewer = as_user(small, "vic", "small", "viewer")
    planner = as_user(small, "pia", "small", "planner")
    modeler = as_user(small, "mo", "small", "modeler")
    outsider = bearer(token_for(small.app.state.workspace.store, "out"))  # no role in small
    error(small.get(BASE, headers=viewer), 403, "forbidden")
    error(small.get(f"{BASE}/erp", headers=viewer), 403, "forbidden")
    assert small.get(BASE, headers=planner).status_code == 200
    assert small.get(f"{BASE}/erp", headers=planner).status_code == 200
    error(create(small, "p", headers=planner), 403, "forbidden")
    change = {"cube": "PnL", "spec": SPEC}
    error(small.put(f"{BASE}/erp", json=change, headers=planner), 403, "forbidden")
    error(small.delete(f"{BASE}/erp", headers=planner), 403, "forbidden")
    assert create(small, "m", headers=modeler).status_code == 201
    assert small.put(f"{BASE}/m", json=change, headers=modeler).status_code == 200
    assert small.delete(f"{BASE}/m", headers=modeler).status_code == 204
    error(small.get(BASE, headers=outsider), 404, "model_not_found")
    # a planner imports by the profile a modeler keeps
    r = small.post(IMPORT, content=FILE, headers={**CSV, **planner}, params={"profile": "erp"})
    assert r.status_code == 200, r.text
    error(small.get("/api/models/nope/load-profiles"), 404, "model_not_found")


def test_plancube_import_with_a_profile(
    small: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server import cli
    from server.auth import client as auth_client
    from server.imports import client as import_client

    def post(url: str, **kw: Any) -> Any:  # the server, in process: the test client
        kw.pop("verify"), kw.pop("timeout")
        return small.post(url.removeprefix("http://plancube.test"), **kw)

    monkeypatch.setattr(import_client.httpx, "post", post)
    token = small.headers["Authorization"].removeprefix("Bearer ")
    monkeypatch.setattr(auth_client, "access_token", lambda server, ca_file=None: token)
    assert create(small).status_code == 201
    data = tmp_path / "actuals.csv"
    data.write_bytes(FILE)
    args = ["import", str(data), "--server", "http://plancube.test", "--model", "small"]
    args += ["--cube", "PnL", "--profile", "erp"]
    assert cli.main([*args, "--const", "Version=Budget"]) == 0, capsys.readouterr().err
    assert "wrote 4 cells from 2 rows" in capsys.readouterr().out
    assert stored(small)["Budget\tRent\tFeb\tAmount"] == 4.25
    assert cli.main([*args[:-1], "nope"]) == 1
    assert "load_profile_not_found" in capsys.readouterr().err
