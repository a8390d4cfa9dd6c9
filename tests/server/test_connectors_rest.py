"""The REST connector against a real HTTP source (uvicorn on a free port): pages of every kind,
a 429 and a 500 on the way, the auth header, incremental runs — pulled alone, and configured
in a model through the API, its rows landing in the cube on both stores."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from connectors import PullFailed, rest
from tests.server.connector_source import TOKEN, Source, serve
from tests.server.helpers import error, load_small

ROWS = [
    {"id": i, "updated": 10 * i, "acct": {"name": a}, "month": m, "amount": v}
    for i, (a, m, v) in enumerate(
        [
            ("Rev", "Jan", 100),
            ("Rev", "Feb", 110),
            ("Rent", "Jan", 30),
            ("Rent", "Feb", 31),
            ("Salaries", "Jan", 50),
        ],
        start=1,
    )
]
SECRETS = {"token": TOKEN}


@pytest.fixture
def source() -> Iterator[Source]:
    with serve(Source(records=[dict(r) for r in ROWS])) as s:
        yield s


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The connector's waits between retries, heard instead of slept."""
    heard: list[float] = []
    monkeypatch.setattr(rest, "sleep", heard.append)
    return heard


def config(source: Source, **extra: Any) -> rest.RestConfig:
    base: dict[str, Any] = {
        "url": f"{source.url}/items",
        "records": "data.items",
        "pagination": {"kind": "next_link", "next": "next"},
        "auth": {"secret": "token", "prefix": "Bearer "},
        "incremental": {"field": "updated", "param": "since"},
        "backoff_s": 0.01,
    }
    return rest.RestConfig.model_validate({**base, **extra})


def pull(cfg: rest.RestConfig, watermark: Any = None) -> tuple[pa.Table, Any]:
    pulled = rest.pull(cfg, SECRETS, watermark)
    batches = list(pulled.batches)
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    return table, pulled.watermark()


def test_next_links_with_a_429_and_a_500_on_the_way(source: Source, waits: list[float]) -> None:
    source.faults = {("/items", 1): [429], ("/items", 2): [500, 503]}
    table, mark = pull(config(source))
    assert table.column("id").to_pylist() == [1, 2, 3, 4, 5]
    assert table.column("amount").type == pa.int64()  # numbers stay numbers
    assert table.column("acct.name").to_pylist() == ["Rev", "Rev", "Rent", "Rent", "Salaries"]
    assert mark == 50
    assert 1.0 in waits  # the 429's Retry-After, honoured
    assert len(waits) == 3 and all(w <= 0.04 for w in waits if w != 1.0)  # jittered backoff
    assert [h["params"].get("p") for h in source.heard] == [None, "1", "1", "2", "2", "2"]
    assert {h["auth"] for h in source.heard} == {f"Bearer {TOKEN}"}


def test_an_incremental_pull_sends_the_watermark_and_keeps_it_on_next_links(
    source: Source, waits: list[float]
) -> None:
    table, mark = pull(config(source), watermark=20)
    assert table.column("id").to_pylist() == [3, 4, 5] and mark == 50
    assert [h["params"] for h in source.heard] == [{"since": "20"}, {"p": "1", "since": "20"}]
    table, mark = pull(config(source), watermark=50)
    assert table.num_rows == 0 and mark == 50  # nothing new: the watermark stays


@pytest.mark.parametrize(
    ("path", "records", "pagination"),
    [
        ("linked", "", {"kind": "link_header"}),
        ("paged", "results", {"kind": "page", "param": "page", "size": 2}),
        ("offset", "results", {"kind": "offset", "param": "offset", "size": 2}),
        ("cursor", "rows", {"kind": "cursor", "param": "cursor", "next": "meta.next"}),
    ],
)
def test_every_kind_of_page(
    source: Source, path: str, records: str, pagination: dict[str, Any]
) -> None:
    cfg = config(source, url=f"{source.url}/{path}", records=records, pagination=pagination)
    table, mark = pull(cfg)
    assert table.column("id").to_pylist() == [1, 2, 3, 4, 5] and mark == 50
    assert len(source.heard) in (3, 4)  # three pages (and an empty one for page/offset)


def test_fields_pick_columns_by_dotted_path(source: Source) -> None:
    cfg = config(source, fields={"Account": "acct.name", "value": "amount"})
    table, _ = pull(cfg)
    assert table.column_names == ["Account", "value"]
    assert table.column("value").to_pylist() == [100, 110, 30, 31, 50]


def test_a_source_that_keeps_failing_fails_the_pull_after_bounded_retries(
    source: Source, waits: list[float]
) -> None:
    source.always = 500
    with pytest.raises(PullFailed, match=r"HTTP 500 .* after 4 attempt"):
        pull(config(source, max_retries=3))
    assert len(source.heard) == 4 and len(waits) == 3


def test_a_wrong_token_fails_at_once(source: Source, waits: list[float]) -> None:
    pulled = rest.pull(config(source), {"token": "wrong"}, None)
    with pytest.raises(PullFailed, match="HTTP 401"):
        list(pulled.batches)
    assert len(source.heard) == 1 and waits == []


def test_a_connection_refused_is_retried_then_fails(waits: list[float]) -> None:
    from server.launch import free_port

    cfg = rest.RestConfig.model_validate(
        {"url": f"http://127.0.0.1:{free_port()}/x", "max_retries": 2, "backoff_s": 0.01}
    )
    with pytest.raises(PullFailed, match="ConnectError after 3 attempt"):
        list(rest.pull(cfg, {}, None).batches)
    assert len(waits) == 2


def test_max_rows_bounds_a_run(source: Source) -> None:
    with pytest.raises(PullFailed, match="more than max_rows"):
        pull(config(source, max_rows=3))


def test_retry_after_in_seconds_or_as_a_date() -> None:
    import email.utils
    from datetime import UTC, datetime, timedelta

    import httpx

    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert rest._retry_after(answer("7")) == 7.0
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    wait = rest._retry_after(answer(later))
    assert wait is not None and 80 < wait <= 90
    assert rest._retry_after(answer("soon")) is None
    assert rest._retry_after(httpx.Response(429)) is None


def test_a_retry_after_past_the_bound_fails_the_pull(source: Source, waits: list[float]) -> None:
    source.faults = {("/items", 0): [429]}
    with pytest.raises(PullFailed, match="asks to wait 1 s, more than max_retry_after_s"):
        pull(config(source, max_retry_after_s=0.5))
    assert waits == []


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        rest.RestConfig.model_validate({"url": "file:///etc/passwd"})


def test_a_credential_in_plain_headers_is_refused() -> None:
    with pytest.raises(ValueError, match="give it as `auth` with a secret"):
        rest.RestConfig.model_validate(
            {"url": "https://erp.example.com", "headers": {"Authorization": "Bearer x"}}
        )


# -- configured in a model, run through the API: both stores --------------------------------

CONNECTORS = "/api/models/small/connectors"
LOAD = {
    "columns": {"Account": "acct.name", "Month": "month"},
    "constants": {"Version": "Actual", "Measure": "Amount"},
    "value": "amount",
}


def body(source: Source, secrets: dict[str, Any], **extra: Any) -> dict[str, Any]:
    cfg = config(source).model_dump(mode="json", exclude_unset=True)
    return {
        "name": "erp",
        "type": "rest",
        "config": cfg,
        "secrets": secrets,
        "cube": "PnL",
        "load": LOAD,
        **extra,
    }


def wait(client: Any, run: dict[str, Any]) -> dict[str, Any]:
    for _ in range(1000):
        r = client.get(run["links"]["self"])
        assert r.status_code == 200, r.text
        if r.json()["status"] != "running":
            return r.json()  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError(f"the run did not end: {r.json()}")


def run(client: Any, name: str = "erp") -> dict[str, Any]:
    r = client.post(f"{CONNECTORS}/{name}/run")
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["links"]["self"]
    return wait(client, r.json())


def stored(client: Any) -> dict[str, float]:
    t = client.app.state.workspace.store.load_cells("small", "PnL").to_pylist()
    return {r["addr"].replace("\t", "/"): r["num"] for r in t}


def test_a_rest_connector_loads_the_cube_then_only_what_is_new(
    client: Any,
    source: Source,
    waits: list[float],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ERP_TOKEN", TOKEN)
    load_small(client)
    source.faults = {("/items", 1): [429], ("/items", 2): [500]}
    r = client.post(CONNECTORS, json=body(source, {"token": "env:ERP_TOKEN"}))
    assert r.status_code == 201, r.text
    assert r.json()["secrets"] == {"token": {"set": True, "env": "ERP_TOKEN"}}
    first = run(client)
    assert first["status"] == "succeeded", first
    assert (first["rows"], first["cells"]) == (5, 5)
    assert first["watermark_before"] is None and first["watermark_after"] == 50
    assert first["cause"] == "api" and first["commit"] is not None
    assert stored(client) == {
        "Actual/Rev/Jan/Amount": 100,
        "Actual/Rev/Feb/Amount": 110,
        "Actual/Rent/Jan/Amount": 30,
        "Actual/Rent/Feb/Amount": 31,
        "Actual/Salaries/Jan/Amount": 50,
    }
    commit = client.get(f"/api/models/small/commits/{first['commit']}").json()
    assert commit["source"] == "import"
    assert client.get(f"{CONNECTORS}/erp").json()["watermark"] == 50
    # the source gets a new row and a changed one: the second run fetches only those
    source.records.append(
        {"id": 6, "updated": 60, "acct": {"name": "Travel"}, "month": "Mar", "amount": 7}
    )
    source.records[0] = {**source.records[0], "updated": 70, "amount": 101}
    source.heard.clear()
    second = run(client)
    assert second["status"] == "succeeded", second
    assert (second["rows"], second["watermark_before"], second["watermark_after"]) == (2, 50, 70)
    assert {h["params"].get("since") for h in source.heard} == {"50"}
    cells = stored(client)
    assert cells["Actual/Rev/Jan/Amount"] == 101 and cells["Actual/Travel/Mar/Amount"] == 7
    history = client.get(f"{CONNECTORS}/erp/runs").json()
    assert [h["id"] for h in history] == [second["id"], first["id"]]
    assert TOKEN not in caplog.text


def test_a_source_that_keeps_failing_records_a_failed_run_and_writes_nothing(
    client: Any, source: Source, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_TOKEN", TOKEN)
    load_small(client)
    assert client.post(CONNECTORS, json=body(source, {"token": "env:ERP_TOKEN"})).status_code == 201
    assert run(client)["status"] == "succeeded"
    before, head = stored(client), client.get("/api/models/small").json()["head"]
    source.records.append(
        {"id": 6, "updated": 60, "acct": {"name": "Travel"}, "month": "Mar", "amount": 7}
    )
    source.faults = {("/items", 0): [500] * 10}
    failed = run(client)
    assert failed["status"] == "failed" and "HTTP 500" in failed["error"], failed
    assert failed["watermark_after"] == failed["watermark_before"] == 50
    assert stored(client) == before
    assert client.get("/api/models/small").json()["head"] == head
    assert client.get(f"{CONNECTORS}/erp").json()["watermark"] == 50


def test_a_rejected_import_fails_the_run_and_keeps_the_watermark(
    client: Any, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_TOKEN", TOKEN)
    load_small(client)
    source.records[2] = {**source.records[2], "acct": {"name": "Rnet"}}  # no such account
    assert client.post(CONNECTORS, json=body(source, {"token": "env:ERP_TOKEN"})).status_code == 201
    failed = run(client)
    assert failed["status"] == "failed" and "nothing was written" in failed["error"]
    assert failed["report"]["error"]["code"] == "import_rejected"
    assert failed["report"]["errors"][0]["value"] == "Rnet"
    assert stored(client) == {}
    assert client.get(f"{CONNECTORS}/erp").json()["watermark"] is None


def test_a_missing_environment_variable_fails_the_run_naming_it(
    client: Any, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ERP_TOKEN_UNSET", raising=False)
    load_small(client)
    r = client.post(CONNECTORS, json=body(source, {"token": "env:ERP_TOKEN_UNSET"}))
    assert r.status_code == 201, r.text
    failed = run(client)
    assert failed["status"] == "failed" and "ERP_TOKEN_UNSET" in failed["error"]
    assert source.heard == []


def test_a_run_while_one_goes_on_is_refused(
    client: Any, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_TOKEN", TOKEN)
    load_small(client)
    assert client.post(CONNECTORS, json=body(source, {"token": "env:ERP_TOKEN"})).status_code == 201
    rt = client.app.state.workspace.runtime("small")
    with rt.write_lock:  # the run pulls, then waits here to validate
        r = client.post(f"{CONNECTORS}/erp/run")
        assert r.status_code == 202, r.text
        error(client.post(f"{CONNECTORS}/erp/run"), 409, "connector_running")
        error(client.delete(f"{CONNECTORS}/erp"), 409, "connector_running")
    assert wait(client, r.json())["status"] == "succeeded"
    assert len(client.get(f"{CONNECTORS}/erp/runs").json()) == 1


def test_a_dry_run_validates_and_writes_nothing(
    client: Any, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERP_TOKEN", TOKEN)
    load_small(client)
    assert client.post(CONNECTORS, json=body(source, {"token": "env:ERP_TOKEN"})).status_code == 201
    r = client.post(f"{CONNECTORS}/erp/run", params={"dry_run": "true"})
    assert r.status_code == 202, r.text
    done = wait(client, r.json())
    assert done["status"] == "succeeded" and done["dry_run"] is True, done
    assert done["report"]["would_write"] == 5 and done["commit"] is None
    assert done["watermark_after"] is None
    assert stored(client) == {}
    assert client.get(f"{CONNECTORS}/erp").json()["watermark"] is None
    real = run(client)  # and the real run after it loads everything
    assert (real["dry_run"], real["rows"], real["watermark_after"]) == (False, 5, 50)


def test_the_history_keeps_the_newest_runs(
    client: Any, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.services import connector_runs

    monkeypatch.setattr(connector_runs, "KEEP_RUNS", 2)
    monkeypatch.setenv("ERP_TOKEN", TOKEN)
    load_small(client)
    assert client.post(CONNECTORS, json=body(source, {"token": "env:ERP_TOKEN"})).status_code == 201
    ids = [run(client)["id"] for _ in range(3)]
    assert [r["id"] for r in client.get(f"{CONNECTORS}/erp/runs").json()] == ids[:0:-1]


def test_a_claim_left_by_a_stopped_server_is_taken_over(
    client: Any, source: Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that was going on when its server stopped: its row says running, its claim holds.
    On DuckDB (one process) the next start takes the claim over and the old run reads failed;
    on PostgreSQL another process might still run it, so the claim holds for six hours."""
    from server.storage.connector_records import ConnectorRow, ConnectorRun

    monkeypatch.setenv("ERP_TOKEN", TOKEN)
    load_small(client)
    assert client.post(CONNECTORS, json=body(source, {"token": "env:ERP_TOKEN"})).status_code == 201
    store = client.app.state.workspace.store
    with store.transaction() as tx:
        tx.session.add(
            ConnectorRun(
                id="gone",
                model="small",
                connector="erp",
                cause="schedule",
                author="connector:erp",
                status="running",
                phase="pulling",
            )
        )
        row = tx.session.get(ConnectorRow, ("small", "erp"))
        row.running, row.claimed_at = "gone", "2030-01-01T00:00:00.000000Z"
        tx.session.add(row)
    r = client.post(f"{CONNECTORS}/erp/run")
    if store.shared:
        error(r, 409, "connector_running")
        assert client.get(f"{CONNECTORS}/erp/runs/gone").json()["status"] == "running"
        return
    assert r.status_code == 202, r.text
    assert wait(client, r.json())["status"] == "succeeded"
    gone = client.get(f"{CONNECTORS}/erp/runs/gone").json()
    assert gone["status"] == "failed" and "server stopped" in gone["error"]
