"""Connectors as configured objects of a model, on both stores: create, read, change, delete,
who may, what is refused — and their secrets, which no answer, run error or log line shows."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlmodel import select

from server.connector_secrets import KEY_SETTING, REDACTED
from tests.server.helpers import error, load_small
from tests.server.test_connectors_rest import CONNECTORS, run
from tests.signin import as_user

PASSWORD = "pg-Pa55-wOrd-Kq7"
REST = {"url": "http://127.0.0.1:9/items", "auth": {"secret": "token", "prefix": "Bearer "}}


def connector(**extra: Any) -> dict[str, Any]:
    return {
        "name": "erp",
        "type": "rest",
        "config": REST,
        "cube": "PnL",
        "load": {"constants": {"Version": "Actual", "Measure": "Amount"}},
        **extra,
    }


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    k = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_SETTING, k)
    return k


def test_create_read_change_delete(client: Any, key: str) -> None:
    load_small(client)
    r = client.post(
        CONNECTORS,
        json=connector(secrets={"token": {"value": PASSWORD}}, schedule="0  6 * * 1-5"),
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["secrets"] == {"token": {"set": True}}
    assert made["schedule"] == "0 6 * * 1-5" and made["enabled"] is True
    assert made["watermark"] is None and made["running"] is None
    assert made["load"] == {"constants": {"Version": "Actual", "Measure": "Amount"}}
    assert made["updated_by"] and made["links"]["run"] == f"{CONNECTORS}/erp/run"
    assert [c["name"] for c in client.get(CONNECTORS).json()] == ["erp"]
    error(client.post(CONNECTORS, json=connector()), 409, "connector_exists")
    # a change keeps the stored secret unless it names it; null removes one
    change = {k: v for k, v in connector().items() if k != "name"}
    r = client.put(f"{CONNECTORS}/erp", json={**change, "secrets": {"other": "env:X_Y"}})
    assert r.status_code == 200, r.text
    assert r.json()["secrets"] == {"token": {"set": True}, "other": {"set": True, "env": "X_Y"}}
    assert r.json()["schedule"] is None
    r = client.put(f"{CONNECTORS}/erp", json={**change, "secrets": {"token": None}})
    assert r.json()["secrets"] == {"other": {"set": True, "env": "X_Y"}}
    assert client.delete(f"{CONNECTORS}/erp").status_code == 204
    error(client.get(f"{CONNECTORS}/erp"), 404, "connector_not_found")
    error(client.get(f"{CONNECTORS}/erp/runs"), 404, "connector_not_found")
    error(client.get("/api/models/nope/connectors"), 404, "model_not_found")
    error(client.post(f"{CONNECTORS}/erp/run"), 404, "connector_not_found")


def test_what_a_save_refuses(client: Any) -> None:
    load_small(client)
    err = error(client.post(CONNECTORS, json=connector(type="ftp")), 422, "invalid_value")
    assert err["details"]["types"] == ["rest", "sql"]
    err = error(
        client.post(CONNECTORS, json=connector(config={"url": "ftp://x"})), 422, "invalid_value"
    )
    assert err["details"]["problems"][0]["field"] == "url"
    err = error(
        client.post(CONNECTORS, json=connector(config={**REST, "retries": 3})),
        422,
        "invalid_value",
    )
    assert "retries" in err["message"]
    error(client.post(CONNECTORS, json=connector(cube="Nope")), 404, "cube_not_found")
    err = error(client.post(CONNECTORS, json=connector(schedule="every day")), 422, "invalid_value")
    assert "cron" in err["message"]
    err = error(
        client.post(CONNECTORS, json=connector(secrets={"token": "plain text"})),
        422,
        "invalid_value",
    )
    assert "plain text" not in err["message"]
    r = client.post(CONNECTORS, json=connector(load={"mode": "sideways"}))
    assert r.status_code == 422, r.text
    assert client.get(CONNECTORS).json() == []


def test_a_stored_secret_needs_the_key(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_SETTING, raising=False)
    load_small(client)
    err = error(
        client.post(CONNECTORS, json=connector(secrets={"token": {"value": PASSWORD}})),
        409,
        "secret_key_missing",
    )
    assert KEY_SETTING in err["message"] and PASSWORD not in str(err)
    r = client.post(CONNECTORS, json=connector(secrets={"token": "env:ERP_TOKEN"}))
    assert r.status_code == 201, r.text  # a reference needs no key


def test_only_a_modeler_configures_or_runs(client: Any) -> None:
    load_small(client)
    assert client.post(CONNECTORS, json=connector()).status_code == 201
    ann = as_user(client, "ann")  # a planner of the small model
    for method, path in [
        ("get", CONNECTORS),
        ("post", f"{CONNECTORS}/erp/run"),
        ("get", f"{CONNECTORS}/erp/runs"),
        ("delete", f"{CONNECTORS}/erp"),
    ]:
        error(getattr(client, method)(path, headers=ann), 403, "forbidden")
    mo = as_user(client, "mo", "small", "modeler")
    assert client.get(CONNECTORS, headers=mo).status_code == 200


def test_secrets_are_in_no_answer_no_run_error_no_log_and_encrypted_at_rest(
    client: Any, key: str, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored password inside a SQL URL that fails: the error mentions the database, whose
    name holds the password too — and is recorded redacted."""
    caplog.set_level(logging.DEBUG)
    load_small(client)
    url = sa.make_url(postgres_url).set(password=PASSWORD, database=f"nodb_{PASSWORD}")
    body = {
        "name": "ledger",
        "type": "sql",
        "config": {"url_secret": "whole", "query": "SELECT 1"},
        "secrets": {"whole": {"value": url.render_as_string(hide_password=False)}},
        "cube": "PnL",
    }
    r = client.post(CONNECTORS, json=body)
    assert r.status_code == 201, r.text
    answers = [r.text]
    failed = run(client, "ledger")
    assert failed["status"] == "failed" and REDACTED in failed["error"], failed
    answers += [
        client.get(f"{CONNECTORS}/ledger").text,
        client.get(CONNECTORS).text,
        client.get(f"{CONNECTORS}/ledger/runs").text,
        client.get("/openapi.json").text,
    ]
    for text in answers:
        assert PASSWORD not in text
    assert PASSWORD not in caplog.text
    store = client.app.state.workspace.store
    from server.storage.connector_records import ConnectorRow, ConnectorRun

    with store.transaction() as tx:
        rows = [r.model_dump_json() for r in tx.session.exec(select(ConnectorRow)).all()]
        rows += [r.model_dump_json() for r in tx.session.exec(select(ConnectorRun)).all()]
    assert rows and not any(PASSWORD in r for r in rows)
    assert any("fernet" in r for r in rows)


def test_a_key_that_does_not_fit_fails_the_run_clearly(
    client: Any, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_small(client)
    r = client.post(CONNECTORS, json=connector(secrets={"token": {"value": PASSWORD}}))
    assert r.status_code == 201, r.text
    monkeypatch.setenv(KEY_SETTING, Fernet.generate_key().decode())
    failed = run(client)
    assert failed["status"] == "failed" and "cannot be decrypted" in failed["error"]
    monkeypatch.setenv(KEY_SETTING, f"{Fernet.generate_key().decode()} {key}")  # rotated
    again = run(client)
    assert "cannot be decrypted" not in again["error"]  # the old key still reads it
    assert "ConnectError" in again["error"]  # and the run got as far as the (absent) source


def test_the_connector_types_are_listed_with_their_config_schemas(client: Any) -> None:
    types = {t["name"]: t for t in client.get("/api/connector-types").json()}
    assert set(types) == {"rest", "sql"}
    assert "url" in types["rest"]["config"]["properties"]
    assert "query" in types["sql"]["config"]["properties"]


def test_revision_0009_makes_the_declared_tables_and_goes_back(store_url: str) -> None:
    from server.storage import migrate, open_store
    from server.storage.connector_records import ConnectorRow, ConnectorRun

    store = open_store(store_url)
    try:
        with store.transaction() as tx:
            for table in (ConnectorRow.__table__, ConnectorRun.__table__):  # type: ignore[attr-defined]
                rows = tx.connection.execute(
                    sa.text(
                        "SELECT column_name, is_nullable FROM information_schema.columns "
                        "WHERE table_name = :t AND table_schema = current_schema()"
                    ),
                    {"t": table.name},
                ).all()
                assert {n: v == "YES" for n, v in rows} == {
                    c.name: bool(c.nullable) for c in table.columns
                }, table.name
        with store.transaction() as tx:
            migrate.downgrade(tx.connection, "0007")
            names = tx.connection.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema()"
                )
            ).scalars()
            assert not {"connectors", "connector_runs"} & set(names)
    finally:
        store.close()
    store = open_store(store_url)  # upgraded again as it opens
    try:
        with store.transaction() as tx:
            assert migrate.current(tx.connection) == migrate.head()  # 0009 and after again
    finally:
        store.close()


def test_a_deleted_model_takes_its_connectors_and_runs_along(client: Any) -> None:
    load_small(client)
    assert client.post(CONNECTORS, json=connector()).status_code == 201
    run(client, "erp")  # fails (nothing listens on port 9) but leaves a run in the history
    assert client.get(f"{CONNECTORS}/erp/runs").json()
    assert client.delete("/api/models/small").status_code == 204
    load_small(client)  # a new model of the same name starts without them
    assert client.get(CONNECTORS).json() == []
    store = client.app.state.workspace.store
    with store._transaction() as cur:
        left = store._exec(cur, "SELECT count(*) FROM connector_runs").fetchone()[0]
    assert left == 0
