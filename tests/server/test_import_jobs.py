"""Background imports (server.jobs): 202 and a job, its progress, its cancel, its report kept."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from server.app import create_app
from tests.server.helpers import cell, error, load_small, view
from tests.signin import as_user, signed_in

URL = "/api/models/small/cubes/PnL/import"
CSV = {"Content-Type": "text/csv"}
HEADER = b"Version,Account,Month,Measure,Value\n"
GOOD = HEADER + b"Actual,Rev,Jan,Amount,100\nActual,Rent,Jan,Amount,30\n"
BAD = HEADER + b"Actual,Revenue,Jan,Amount,100\nActual,Rent,Jan,Amount,x\n"


@pytest.fixture
def small(client: Any) -> Any:
    load_small(client)
    return client


def wait(client: Any, job: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The job once it has ended (polling, as a client does)."""
    for _ in range(500):
        r = client.get(f"/api/jobs/{job}", headers=headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if body["state"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.02)
    raise AssertionError(f"job {job} did not end: {body}")


def stored(client: Any) -> dict[str, Any]:
    t = client.app.state.workspace.store.load_cells("small", "PnL").to_pylist()
    return {r["addr"]: r["num"] for r in t}


def test_background_import_is_a_job_that_ends_with_the_synchronous_report(small: Any) -> None:
    r = small.post(URL, content=GOOD, headers=CSV, params={"background": "true"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/jobs/{job['id']}"
    assert job["state"] in ("queued", "running", "succeeded")
    done = wait(small, job["id"])
    assert done["state"] == "succeeded" and done["phase"] == "done" and done["percent"] == 100
    assert done["rows"] == 2 and done["rows_per_s"] > 0 and done["eta_s"] == 0
    report = done["report"]
    assert report["written"] == 2 and report["error_count"] == 0
    assert report["commit"]["source"] == "import"
    assert cell(view(small), "Net", "Jan") == 70
    listed = small.get("/api/jobs").json()
    assert [j["id"] for j in listed] == [job["id"]]


def test_a_job_with_problems_fails_writes_nothing_and_keeps_its_csv_report(small: Any) -> None:
    before = stored(small)
    r = small.post(URL, content=BAD, headers=CSV, params={"background": "true"})
    done = wait(small, r.json()["id"])
    assert done["state"] == "failed" and "nothing was written" in done["message"]
    assert done["report"]["error"]["code"] == "import_rejected"
    assert [(e["row"], e["reason"]) for e in done["report"]["errors"]] == [
        (2, "unknown_element"),
        (3, "not_a_number"),
    ]
    assert stored(small) == before
    csv = small.get(f"/api/jobs/{done['id']}/report")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.replace('"', "").splitlines()
    assert lines[0] == "row,column,value,reason,detail"
    assert lines[1].startswith("2,Account,Revenue,unknown_element,")
    assert lines[2].startswith("3,Value,x,not_a_number")


def test_an_unreadable_file_or_an_unknown_cube(small: Any) -> None:
    r = small.post(URL, content=b"", headers=CSV, params={"background": "true"})
    done = wait(small, r.json()["id"])
    assert done["state"] == "failed" and done["report"]["error"]["code"] == "unreadable_file"
    error(small.get(f"/api/jobs/{done['id']}/report"), 404, "job_not_found")
    r = small.post(
        "/api/models/small/cubes/Nope/import",
        content=GOOD,
        headers=CSV,
        params={"background": "true"},
    )
    error(r, 404, "cube_not_found")


def test_only_the_owner_or_a_server_admin_sees_a_job(small: Any) -> None:
    ann = {**as_user(small, "ann"), **CSV}
    bob = as_user(small, "bob")
    r = small.post(URL, content=GOOD, headers=ann, params={"background": "true"})
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    assert wait(small, job, ann)["state"] == "succeeded"
    error(small.get(f"/api/jobs/{job}", headers=bob), 404, "job_not_found")
    error(small.get(f"/api/jobs/{job}/report", headers=bob), 404, "job_not_found")
    error(small.delete(f"/api/jobs/{job}", headers=bob), 404, "job_not_found")
    assert small.get("/api/jobs", headers=bob).json() == []
    assert small.get(f"/api/jobs/{job}").status_code == 200  # the server admin


def test_cancel_before_the_commit_writes_nothing(small: Any) -> None:
    rt = small.app.state.workspace.runtime("small")
    before, head = stored(small), small.get("/api/models/small").json()["head"]
    with rt.write_lock:  # the job reads its file, then waits here to validate
        job = small.post(URL, content=GOOD, headers=CSV, params={"background": "true"}).json()
        r = small.delete(f"/api/jobs/{job['id']}")
        assert r.status_code == 202, r.text
        assert r.json()["cancel_requested"] is True
    done = wait(small, job["id"])
    assert done["state"] == "cancelled" and "nothing was written" in done["message"]
    assert stored(small) == before
    assert small.get("/api/models/small").json()["head"] == head
    error(small.delete(f"/api/jobs/{job['id']}"), 409, "job_finished")


def test_a_cancel_during_the_commit_is_refused_and_the_commit_goes_through(small: Any) -> None:
    store = small.app.state.workspace.store
    real, entered, go = store.commit_many, threading.Event(), threading.Event()

    def held_commit(*args: Any, **kw: Any) -> Any:  # the real commit, held at its door
        entered.set()
        assert go.wait(30)
        return real(*args, **kw)

    store.commit_many = held_commit
    try:
        job = small.post(URL, content=GOOD, headers=CSV, params={"background": "true"}).json()
        assert entered.wait(30)
        status = small.get(f"/api/jobs/{job['id']}").json()
        assert status["state"] == "running" and status["phase"] == "committing"
        assert 0 < status["percent"] < 100 and status["eta_s"] is not None
        error(small.delete(f"/api/jobs/{job['id']}"), 409, "job_committing")
        go.set()
        done = wait(small, job["id"])
    finally:
        store.commit_many = real
    assert done["state"] == "succeeded"
    assert cell(view(small), "Net", "Jan") == 70


def test_progress_goes_to_the_owners_live_feed(small: Any) -> None:
    with small.websocket_connect("/api/models/small/feed") as ws:
        job = small.post(URL, content=GOOD, headers=CSV, params={"background": "true"}).json()
        seen = []
        while not seen or seen[-1]["state"] not in ("succeeded", "failed", "cancelled"):
            msg = ws.receive_json()
            if msg["type"] == "job" and msg["job"]["id"] == job["id"]:
                seen.append(msg["job"])
    phases = [m["phase"] for m in seen]
    assert phases[:3] == ["reading", "validating", "committing"], phases
    assert seen[-1]["state"] == "succeeded" and seen[-1]["report"]["written"] == 2


def test_a_finished_jobs_report_outlives_the_server(tmp_path: Any) -> None:
    db = str(tmp_path / "jobs.duckdb")
    with signed_in(create_app(db)) as c:
        load_small(c)
        job = c.post(URL, content=BAD, headers=CSV, params={"background": "true"}).json()["id"]
        assert wait(c, job)["state"] == "failed"
    with signed_in(create_app(db)) as c:
        again = c.get(f"/api/jobs/{job}").json()
        assert again["state"] == "failed" and again["report"]["error_count"] == 2
        assert "unknown_element" in c.get(f"/api/jobs/{job}/report").text


class _Http:
    """httpx.Client, answered by the in-process test client (the CLI talks to it)."""

    def __init__(self, app: Any, **_: Any) -> None:
        self.app = app

    def __enter__(self) -> _Http:
        return self

    def __exit__(self, *_: Any) -> None:
        pass

    def get(self, url: str) -> Any:
        return self.app.get(url.removeprefix("http://plancube.test"))

    def delete(self, url: str) -> Any:
        return self.app.delete(url.removeprefix("http://plancube.test"))


@pytest.fixture
def cli_to(small: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from server.auth import client as auth_client
    from server.imports import client as import_client

    def post(url: str, **kw: Any) -> Any:
        kw.pop("verify"), kw.pop("timeout")
        return small.post(url.removeprefix("http://plancube.test"), **kw)

    monkeypatch.setattr(import_client.httpx, "post", post)
    monkeypatch.setattr(import_client.httpx, "Client", lambda **kw: _Http(small, **kw))
    token = small.headers["Authorization"].removeprefix("Bearer ")
    monkeypatch.setattr(auth_client, "access_token", lambda server, ca_file=None: token)
    return import_client


def _args(path: Any) -> list[str]:
    return [
        "import", str(path), "--server", "http://plancube.test", "--model", "small",
        "--cube", "PnL", "--background",
    ]  # fmt: skip


def test_plancube_import_background_shows_progress_and_the_result(
    cli_to: Any, small: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from server import cli

    data = tmp_path / "actuals.csv"
    data.write_bytes(GOOD)
    assert cli.main(_args(data)) == 0
    out = capsys.readouterr()
    assert "wrote 2 cells from 2 rows" in out.out
    assert "\r[" in out.err and "100%" in out.err
    assert cell(view(small), "Net", "Jan") == 70
    data.write_bytes(BAD)
    assert cli.main(_args(data)) == 1
    err = capsys.readouterr().err
    assert "import_rejected" in err and "row 2, Account: 'Revenue' unknown_element" in err


def test_ctrl_c_cancels_the_background_import(
    cli_to: Any, small: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from server import cli

    data = tmp_path / "actuals.csv"
    data.write_bytes(GOOD)
    rt = small.app.state.workspace.runtime("small")
    lock = rt.write_lock
    lock.acquire()  # the job waits to validate until the Ctrl+C has been heard
    pressed = []

    def sleep(_: float) -> None:
        if not pressed:
            pressed.append(True)
            raise KeyboardInterrupt
        if lock._is_owned():  # the cancel is asked for: let the job go on to hear it
            lock.release()
        time.sleep(0.02)

    monkeypatch.setattr(cli_to, "_pause", sleep)
    try:
        assert cli.main(_args(data)) == 1
    finally:
        if lock._is_owned():
            lock.release()
    err = capsys.readouterr().err
    assert "cancelling" in err and "job_cancelled" in err and "nothing was written" in err
    assert stored(small) == {}


def test_plancube_import_dry_run_lists_problems_and_fails_and_says_no_change(
    cli_to: Any, small: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from server import cli

    data = tmp_path / "actuals.csv"
    data.write_bytes(BAD)
    sync = [a for a in _args(data) if a != "--background"]
    assert cli.main([*sync, "--dry-run"]) == 1  # a script can tell a bad file
    out = capsys.readouterr()
    assert "the import would write nothing" in out.out
    assert "row 2, Account: 'Revenue' unknown_element" in out.err
    data.write_bytes(GOOD)
    assert cli.main(sync) == 0
    assert cli.main(sync) == 0  # the same file again changes nothing
    assert "nothing changed: no commit" in capsys.readouterr().out


def test_plancube_import_says_plainly_what_is_missing(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server import cli
    from server.auth import client as auth_client

    monkeypatch.setattr(auth_client, "access_token", lambda server, ca_file=None: "t")
    args = ["import", str(tmp_path / "nosuch.csv"), "--server", "http://127.0.0.1:9"]
    args += ["--model", "small", "--cube", "PnL"]
    assert cli.main(args) == 2
    assert capsys.readouterr().err.startswith("error: no file ")
    data = tmp_path / "actuals.csv"
    data.write_bytes(GOOD)
    args[1] = str(data)
    assert cli.main(args) == 2  # nothing listens on port 9
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the server") and "Traceback" not in err


def test_a_refused_jobs_report_says_nothing_was_written(small: Any) -> None:
    half = HEADER + b"Actual,Rev,Jan,Amount,100\nActual,Revenue,Jan,Amount,1\n"
    job = small.post(URL, content=half, headers=CSV, params={"background": "true"}).json()["id"]
    done = wait(small, job)
    assert done["state"] == "failed" and done["report"]["error_count"] == 1
    assert done["report"]["written"] == 0  # the good row was not written either
    assert cell(view(small), "Rev", "Jan") in (0, None)
