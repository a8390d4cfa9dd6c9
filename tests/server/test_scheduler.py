"""The connector scheduler, driven by the times the test chooses (``Scheduler.tick(now)``), on
both stores; and its thread, started by the app when asked."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from server import scheduler
from server.scheduler import Scheduler
from tests.server.connector_source import TOKEN, Source, serve
from tests.server.helpers import load_small
from tests.server.test_connectors_rest import CONNECTORS, LOAD, ROWS, config, stored, wait


def at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2030, 1, 7, hh, mm, ss, tzinfo=UTC)


@pytest.fixture
def source() -> Iterator[Source]:
    with serve(Source(records=[dict(r) for r in ROWS])) as s:
        yield s


@pytest.fixture
def scheduled(client: Any, source: Source, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ERP_TOKEN", TOKEN)
    load_small(client)
    for name, schedule, enabled in [
        ("erp", "*/5 * * * *", True),
        ("off", "*/5 * * * *", False),
        ("by-hand", None, True),
    ]:
        r = client.post(
            CONNECTORS,
            json={
                "name": name,
                "type": "rest",
                "config": config(source).model_dump(mode="json", exclude_unset=True),
                "secrets": {"token": "env:ERP_TOKEN"},
                "cube": "PnL",
                "load": LOAD,
                "schedule": schedule,
                "enabled": enabled,
            },
        )
        assert r.status_code == 201, r.text
    return client


def runs(client: Any, name: str = "erp") -> list[dict[str, Any]]:
    r = client.get(f"{CONNECTORS}/{name}/runs")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_due_connector_runs_once_per_firing(scheduled: Any) -> None:
    client = scheduled
    s = Scheduler(client.app.state.workspace)
    assert s.tick(at(10, 0, 30)) == []  # armed: first at 10:05, never for a time past
    assert client.get(f"{CONNECTORS}/erp").json()["next_run_at"] == "2030-01-07T10:05:00.000000Z"
    assert s.tick(at(10, 4, 59)) == []
    started = s.tick(at(10, 5, 10))
    assert [r["connector"] for r in started] == ["erp"]
    done = wait(client, started[0])
    assert done["status"] == "succeeded" and done["cause"] == "schedule", done
    assert done["author"] == "connector:erp"
    assert len(stored(client)) == 5
    assert s.tick(at(10, 6)) == []  # that firing is done
    assert client.get(f"{CONNECTORS}/erp").json()["next_run_at"] == "2030-01-07T10:10:00.000000Z"
    assert runs(client, "off") == [] and runs(client, "by-hand") == []
    # down from 10:06 to 10:31: one run catches up, the missed firings are not made up
    started = s.tick(at(10, 31))
    assert len(started) == 1
    wait(client, started[0])
    assert len(runs(client)) == 2
    assert client.get(f"{CONNECTORS}/erp").json()["next_run_at"] == "2030-01-07T10:35:00.000000Z"


def test_no_second_run_while_one_goes_on(scheduled: Any) -> None:
    client = scheduled
    s = Scheduler(client.app.state.workspace)
    s.tick(at(10, 0))
    rt = client.app.state.workspace.runtime("small")
    with rt.write_lock:  # the 10:05 run pulls, then waits here to validate
        first = s.tick(at(10, 5))
        assert len(first) == 1
        assert s.tick(at(10, 10)) == []  # still running: that firing is skipped
        r = client.post(f"{CONNECTORS}/erp/run")
        assert r.status_code == 409, r.text
    assert wait(client, first[0])["status"] == "succeeded"
    assert len(runs(client)) == 1
    assert client.get(f"{CONNECTORS}/erp").json()["next_run_at"] == "2030-01-07T10:15:00.000000Z"


def test_a_changed_schedule_is_armed_again(scheduled: Any) -> None:
    client = scheduled
    s = Scheduler(client.app.state.workspace)
    s.tick(at(10, 0))
    body = client.get(f"{CONNECTORS}/erp").json()
    change = {k: body[k] for k in ("type", "config", "cube", "load", "enabled")}
    r = client.put(f"{CONNECTORS}/erp", json={**change, "schedule": "0 6 * * *"})
    assert r.status_code == 200 and r.json()["next_run_at"] is None, r.text
    assert s.tick(at(10, 5)) == []  # armed for tomorrow 06:00, not fired at 10:05
    assert client.get(f"{CONNECTORS}/erp").json()["next_run_at"] == "2030-01-08T06:00:00.000000Z"


def test_of_two_schedulers_reading_the_same_firing_one_takes_it(scheduled: Any) -> None:
    """Two server processes on one PostgreSQL: both read the connector due, one moves its
    next firing (and starts it), the other's conditional update finds it moved."""
    ws = scheduled.app.state.workspace
    one, other = Scheduler(ws), Scheduler(ws)
    one.tick(at(10, 0))
    seen_by_one = next(r for r in one._due() if r.name == "erp")
    seen_by_other = next(r for r in other._due() if r.name == "erp")
    assert one._move(seen_by_one, at(10, 10)) is True
    assert other._move(seen_by_other, at(10, 10)) is False


def test_the_setting() -> None:
    assert scheduler.enabled({"PLANCUBE_SCHEDULER": "on"})
    assert scheduler.enabled({"PLANCUBE_SCHEDULER": "1"})
    assert not scheduler.enabled({})
    assert not scheduler.enabled({"PLANCUBE_SCHEDULER": "off"})
    assert Scheduler.from_env(None, {"PLANCUBE_SCHEDULER_INTERVAL_S": "5"}).interval_s == 5  # type: ignore[arg-type]


def test_the_app_starts_the_thread_only_when_asked(tmp_path: Any) -> None:
    from server.app import create_app
    from tests.signin import signed_in

    def threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.name == "connector-scheduler"]

    with signed_in(create_app(tmp_path / "a.duckdb")):
        assert threads() == []
    with signed_in(create_app(tmp_path / "b.duckdb", scheduler=True)):
        assert threads() == ["connector-scheduler"]
    for _ in range(100):
        if not threads():
            break
        time.sleep(0.05)
    assert threads() == []


def test_the_thread_ticks_with_the_real_clock(scheduled: Any) -> None:
    client = scheduled
    s = Scheduler(client.app.state.workspace, interval_s=0.05)
    s.start()
    try:
        for _ in range(200):
            armed = client.get(f"{CONNECTORS}/erp").json()["next_run_at"]
            if armed is not None:
                break
            time.sleep(0.05)
    finally:
        s.stop()
    assert armed is not None and armed > datetime.now(UTC).isoformat()[:16]
    assert client.get(f"{CONNECTORS}/off").json()["next_run_at"] is None  # disabled
