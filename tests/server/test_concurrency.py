"""Concurrent writers: optimistic concurrency loses no update, on both stores."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.server.helpers import cell, error, load_small, view, write
from tests.signin import signed_in

JAN = ["Actual", "Rev", "Jan", "Amount"]


def test_concurrent_increments_lose_no_update(client: Any) -> None:
    """Each writer reads, adds one and writes with its base; on 409 it re-reads and retries."""
    load_small(client, [[*JAN, 0.0]])
    writers, increments = 4, 10
    conflicts = [0] * writers

    def work(k: int) -> None:
        done = 0
        while done < increments:
            body = view(client)
            value = cell(body, "Rev", "Jan")
            r = write(client, [(JAN, value + 1)], user=f"user{k}", base=body["commit"])
            if r.status_code == 409:
                conflicts[k] += 1
                continue
            assert r.status_code == 200, r.text
            done += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cell(view(client), "Rev", "Jan") == writers * increments
    history = client.get("/api/models/small/cubes/PnL/cells/history", params={"e": JAN}).json()
    assert len(history) == 1 + writers * increments
    assert [h["new"] for h in history] == [float(i) for i in range(writers * increments + 1)]


def test_writers_of_different_cells_all_get_through(client: Any) -> None:
    load_small(client)
    base = view(client)["commit"]
    months = ["Jan", "Feb", "Mar"]
    accounts = ["Rev", "Salaries", "Rent", "Travel"]
    results: list[int] = []
    lock = threading.Lock()

    def work(account: str) -> None:
        for m in months:
            r = write(client, [(["Actual", account, m, "Amount"], 10.0)], user=account, base=base)
            with lock:
                results.append(r.status_code)

    threads = [threading.Thread(target=work, args=(a,)) for a in accounts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 12
    body = view(client)
    assert cell(body, "Net", "Q1") == 30 - 90
    assert len(client.get("/api/models/small/commits", params={"limit": 100}).json()) == 12


def test_two_servers_on_one_postgres_stay_in_step(pg_schema_url: str) -> None:
    """Two engine replicas (as two server processes would hold) over one PostgreSQL."""

    from server.app import create_app

    with signed_in(create_app(pg_schema_url)) as a:
        load_small(a, [[*JAN, 1.0]])
        with signed_in(create_app(pg_schema_url)) as b:
            seen = view(b)["commit"]
            assert cell(view(b), "Net", "Jan") == 1.0
            assert write(a, [(JAN, 5.0)], user="ann", base=seen).status_code == 200
            assert cell(view(b), "Net", "Jan") == 5.0  # b caught up from the commit log
            r = write(b, [(JAN, 9.0)], user="bob", base=seen)
            assert (
                r.status_code == 409 and r.json()["error"]["details"]["cells"][0]["author"] == "ann"
            )
            assert (
                write(
                    b, [(["Actual", "Rent", "Jan", "Amount"], 2.0)], user="bob", base=seen
                ).status_code
                == 200
            )
            assert cell(view(a), "Net", "Jan") == 3.0


def test_a_commit_racing_the_catch_up_is_not_skipped(pg_schema_url: str) -> None:
    """Another process commits between this replica's catch-up and its own commit."""

    from server.app import create_app

    with signed_in(create_app(pg_schema_url)) as a:
        load_small(a, [[*JAN, 1.0]])
        with signed_in(create_app(pg_schema_url)) as b:
            ws_b = b.app.state.workspace  # type: ignore[attr-defined]
            view(b)
            ws_b.sync = lambda rt: None  # the race: b's catch-up ran before a's commit
            assert write(a, [(JAN, 6.0)], user="ann").status_code == 200
            assert (
                write(b, [(["Actual", "Rent", "Jan", "Amount"], 5.0)], user="bob").status_code
                == 200
            )
            body = view(b)  # still without catch-up: b must already hold a's change
            assert cell(body, "Rev", "Jan") == 6.0 and cell(body, "Net", "Jan") == 1.0


@pytest.mark.parametrize("sessions", ["no session", "a session each"])
def test_one_author_in_many_sessions_loses_no_increment(client: Any, sessions: str) -> None:
    """Two tabs or scripts of one user (or every client without a user) are not one writer.

    Each thread reads, adds one and writes with its base: every success must show in the total,
    every other attempt must be a 409 — never an answered write whose increment is lost.
    """
    load_small(client, [[*JAN, 0.0]])
    writers, attempts = 8, 12
    answers: list[int] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        session = None if sessions == "no session" else f"script-{k}"
        for _ in range(attempts):
            body = view(client)
            value = cell(body, "Rev", "Jan")
            r = write(client, [(JAN, value + 1)], user="ann", base=body["commit"], session=session)
            assert r.status_code in (200, 409), r.text
            with lock:
                answers.append(r.status_code)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = answers.count(200)
    assert len(answers) == writers * attempts and done >= 1
    assert cell(view(client), "Rev", "Jan") == done
    history = client.get("/api/models/small/cubes/PnL/cells/history", params={"e": JAN}).json()
    assert [h["new"] for h in history] == [float(i) for i in range(done + 1)]


def test_a_session_s_own_writes_on_an_older_base_are_not_conflicts(client: Any) -> None:
    """The grid sends a second edit of a cell before the feed has shown its first commit."""
    load_small(client)
    base = write(client, [(JAN, 1.0)], user="ann").json()["head"]
    assert write(client, [(JAN, 2.0)], user="ann", base=base, session="tab-1").status_code == 200
    assert write(client, [(JAN, 3.0)], user="ann", base=base, session="tab-1").status_code == 200
    for user, session in [("ann", "tab-2"), ("ann", None), ("bob", "tab-1")]:
        r = write(client, [(JAN, 9.0)], user=user, base=base, session=session)
        err = error(r, 409, "write_conflict")
        assert err["details"]["cells"][0]["author"] == "ann", (user, session)
    # once another session's commit is the cell's latest, tab-1 on its old base conflicts too
    head = write(client, [(JAN, 4.0)], user="ann", base=base + 2, session="tab-2").json()["head"]
    error(
        write(client, [(JAN, 5.0)], user="ann", base=base, session="tab-1"), 409, "write_conflict"
    )
    assert write(client, [(JAN, 5.0)], user="ann", base=head, session="tab-1").status_code == 200
    assert cell(view(client), "Rev", "Jan") == 5.0


def test_the_session_header_is_checked(client: Any) -> None:
    load_small(client)
    r = write(client, [(JAN, 1.0)], session="x" * 201)
    err = error(r, 422, "invalid")
    assert "x-plancube-session" in str(err["details"]).lower()
