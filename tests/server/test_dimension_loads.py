"""Dimension loads: parent/child and levels files, validated whole, one structural change."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unavailable
from tests.server.helpers import cell, error, load_small, view
from tests.signin import as_user

URL = "/api/models/small/dimensions/Account/load"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client, [["Actual", "Rent", "Jan", "Amount", 10.0]])
    return client


def post(client: Any, body: bytes, media: str = CSV, **params: Any) -> Any:
    return client.post(URL, content=body, headers={"Content-Type": media}, params=params)


def stored_dimension(client: Any) -> dict[str, Any]:
    dims, _ = client.app.state.workspace.store.load_structure("small")
    d = next(d for d in dims if d.name == "Account")
    return {
        e.name: (sorted((c.name, c.weight) for c in e.children), e.attributes) for e in d.elements
    }


def test_spreadsheet_csv_adds_moves_and_reports_orphans(small: Any) -> None:
    # as a spreadsheet saves it: a byte-order mark, CRLF line ends, ; as delimiter
    text = (
        "Element;Parent;Weight;Code\r\n"
        "Travel;Rev;;\r\n"  # moved from Cost (and Alt) to Rev
        "Bonus;Cost;1;6100\r\n"  # new, under Cost, with an alias
        "Rev;Net;;4001\r\n"  # an attribute changed
    )
    r = post(small, b"\xef\xbb\xbf" + text.encode())
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["added"], out["moved"], out["attributes_updated"]) == (1, 1, 1)
    assert out["added_elements"] == ["Bonus"] and out["moved_elements"] == ["Travel"]
    assert set(out["orphan_elements"]) == {"Salaries", "Rent", "Alt"}  # Net, Cost: parents
    assert out["removed"] == 0
    d = stored_dimension(small)
    assert d["Rev"] == ([("Travel", 1.0)], {"Code": "4001"})
    assert ("Travel", 1.0) not in d["Cost"][0] and ("Bonus", 1.0) in d["Cost"][0]
    assert d["Alt"][0] == [("Salaries", 1.0)] and d["Bonus"][1] == {"Code": "6100"}
    assert cell(view(small), "Net", "Jan") == -10  # the stored cell still counts


def test_second_incremental_load_moves_and_reweights(small: Any) -> None:
    assert post(small, b"element,parent\nBonus,Cost\n").status_code == 200
    r = post(small, b"element,parent,weight\nBonus,Net,-1\n")
    assert r.status_code == 200, r.text
    assert r.json()["moved_elements"] == ["Bonus"] and r.json()["added"] == 0
    d = stored_dimension(small)
    assert ("Bonus", -1.0) in d["Net"][0] and all(c != "Bonus" for c, _ in d["Cost"][0])
    r = post(small, b"element,parent,weight\nBonus,Net,2\n")
    assert r.json()["reweighted"] == 1 and r.json()["moved"] == 0


def test_levels_layout(small: Any) -> None:
    body = b"L1,L2,L3,Code\nGroup,Opex,Hardware,7000\nGroup,Opex,Software,\nGroup,Capex,,\n"
    r = post(small, body)
    assert r.status_code == 200, r.text
    assert set(r.json()["added_elements"]) == {"Group", "Opex", "Hardware", "Software", "Capex"}
    d = stored_dimension(small)
    assert d["Group"][0] == [("Capex", 1.0), ("Opex", 1.0)]
    assert d["Opex"][0] == [("Hardware", 1.0), ("Software", 1.0)]
    assert d["Hardware"][1] == {"Code": "7000"}


def test_every_problem_by_row_and_nothing_changes(small: Any) -> None:
    before = stored_dimension(small)
    body = (
        b"element,parent,weight,Colour\n"
        b"Net,Salaries,,\n"  # 2: a cycle (Salaries is below Net)
        b"A,Nowhere,,\n"  # 3: unknown parent
        b"B,Cost,x,\n"  # 4: not a number
        b"C,Cost,1e9,\n"  # 5: weight too large
        b"D,Cost,,\n"
        b"D,Cost,,\n"  # 7: duplicate
        b"E,Cost,,\n"
        b"E,Rev,,\n"  # 9: two parents
        b"F\xe2\x80\x8bG,Cost,,\n"  # 10: an invisible character
    )
    r = post(small, body)
    err = error(r, 422, "dimension_load_rejected")
    got = {(e["row"], e["column"], e["reason"]) for e in err["details"]["errors"]}
    assert got == {
        (1, "Colour", "unknown_column"),
        (2, "parent", "cycle"),
        (3, "parent", "unknown_parent"),
        (4, "weight", "not_a_number"),
        (5, "weight", "bad_weight"),
        (7, "element", "duplicate"),
        (9, "parent", "two_parents"),
        (10, "element", "bad_name"),
    }
    assert stored_dimension(small) == before
    r = post(small, body, report="csv")
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/csv")
    assert len(r.text.splitlines()) == 9
    # a dry run answers 200 with the same problems, changes nothing
    r = post(small, b"element,parent\nE,Cost\nE,Rev\n", multiple_parents="true", dry_run="true")
    assert r.status_code == 200 and r.json()["error_count"] == 0 and r.json()["added"] == 1
    assert stored_dimension(small) == before


def test_orphans_removed_only_without_cells(small: Any) -> None:
    body = b"element,parent\nNet,\nRev,Net\nCost,Net\nSalaries,Cost\nTravel,Cost\n"
    r = post(small, body, remove_orphans="true")
    err = error(r, 422, "dimension_load_rejected")
    assert [(e["value"], e["reason"]) for e in err["details"]["errors"]] == [
        ("Rent", "holds_cells")
    ]
    r = post(small, body + b"Rent,Cost\n", remove_orphans="true")
    assert r.status_code == 200, r.text
    assert r.json()["removed_elements"] == ["Alt"]
    assert "Alt" not in stored_dimension(small)
    # a full replace: the dimension is exactly the file
    r = post(small, b"L1,L2\nNet,Rent\n", mode="replace")
    assert r.status_code == 200, r.text
    assert set(stored_dimension(small)) == {"Net", "Rent"}
    assert (
        cell(
            view(small, {**_view(), "rows": [{"dimension": "Account", "members": "Net"}]}),
            "Net",
            "Jan",
        )
        == 10
    )


def _view() -> dict[str, Any]:
    from tests.server.helpers import VIEW

    return dict(VIEW)


def test_a_leaf_holding_cells_cannot_get_children(small: Any) -> None:
    err = error(post(small, b"element,parent\nNew,Rent\n"), 422, "dimension_load_rejected")
    assert [(e["row"], e["value"], e["reason"]) for e in err["details"]["errors"]] == [
        (2, "Rent", "holds_cells")
    ]


def test_failed_load_leaves_storage_untouched_after_reopening(store_url: str) -> None:
    from server.app import create_app
    from tests.signin import signed_in

    with signed_in(create_app(store_url)) as c:
        load_small(c)
        before = stored_dimension(c)
        error(post(c, b"element,parent\nX,Cost\nCost,X\n"), 422, "dimension_load_rejected")
    with signed_in(create_app(store_url)) as c:  # the workspace opened again from storage
        assert stored_dimension(c) == before
        assert "X" not in c.get("/api/models/small/dimensions/Account").text
        assert post(c, b"element,parent\nX,Cost\n").status_code == 200
    with signed_in(create_app(store_url)) as c:
        assert ("X", 1.0) in stored_dimension(c)["Cost"][0]
        r = c.get("/api/models/small/dimensions/Account").json()
        assert any(e["name"] == "X" and e["parents"] == ["Cost"] for e in r["elements"])


def test_a_planner_is_refused_and_unknown_names_are_404(small: Any) -> None:
    headers = {**as_user(small, "pat", "small", "planner"), "Content-Type": CSV}
    r = small.post(URL, content=b"element,parent\nZ,Cost\n", headers=headers)
    assert error(r, 403, "forbidden")
    r = small.post(
        "/api/models/small/dimensions/Nope/load",
        content=b"element\nZ\n",
        headers={"Content-Type": CSV},
    )
    assert r.status_code == 404
    headers = {**as_user(small, "mo", "small", "modeler"), "Content-Type": CSV}
    assert small.post(URL, content=b"element,parent\nZ,Cost\n", headers=headers).status_code == 200


def test_xlsx_converted_by_libreoffice(small: Any, tmp_path: Path) -> None:
    soffice = shutil.which("soffice")
    if soffice is None:
        unavailable(
            "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui"
        )
    source = tmp_path / "accounts.csv"
    source.write_text("Element,Parent,Weight,Code\nHardware,Cost,1,7000\n2024,Rev,-1,\n")
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    r = post(small, (tmp_path / "accounts.xlsx").read_bytes(), XLSX)
    assert r.status_code == 200, r.text
    d = stored_dimension(small)
    assert ("Hardware", 1.0) in d["Cost"][0] and ("2024", -1.0) in d["Rev"][0]
    assert d["Hardware"][1] == {"Code": "7000"}


def test_plancube_load_dimension(
    small: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server import cli, cli_dimension_load
    from server.auth import client as auth_client

    def fake_post(url: str, **kw: Any) -> Any:
        kw.pop("verify"), kw.pop("timeout")
        return small.post(url.removeprefix("http://plancube.test"), **kw)

    monkeypatch.setattr(cli_dimension_load.httpx, "post", fake_post)
    token = small.headers["Authorization"].removeprefix("Bearer ")
    monkeypatch.setattr(auth_client, "access_token", lambda server, ca_file=None: token)
    data = tmp_path / "accounts.csv"
    data.write_text("element,parent\nBonus,Nowhere\n")
    args = ["load-dimension", str(data), "--server", "http://plancube.test", "--model", "small"]
    args += ["--dimension", "Account"]
    report = tmp_path / "report.csv"
    assert cli.main([*args, "--report", str(report)]) == 1
    assert "row 2, parent: 'Nowhere' unknown_parent" in capsys.readouterr().err
    assert "unknown_parent" in report.read_text()
    data.write_text("element,parent\nBonus,Cost\n")
    assert cli.main(args) == 0
    assert "added 1, moved 0" in capsys.readouterr().out
