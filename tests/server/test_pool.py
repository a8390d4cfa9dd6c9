"""PostgreSQL goes away under a running server and comes back: 503s meanwhile, nothing lost.

The machine's PostgreSQL is shared with the rest of the suite, so it is never stopped here: a
TCP proxy sits between a real server process and PostgreSQL, and is cut — every connection
closed, new ones refused, as while PostgreSQL restarts — and then opened again; later the
server's connections are ended with ``pg_terminate_backend``, which is what a restart looks like
to a connected client. Writers keep writing throughout. Every answer must be a 200, or a 503
``storage_unavailable`` with ``Retry-After`` — no 500, no hang — ``/api/health`` must say the
storage is down while it is, and afterwards storage must hold every acknowledged write.

Each writer is a planner of its own, signed in with a personal access token. The server
remembers a token it has checked for a while (``server.api.guards``); one it has not seen yet
must be looked up in storage, and while storage is down that too is a 503, not a 401 or a 500.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from server.launch import free_port, launched
from server.storage import address
from server.storage.pool import Pool
from server.storage.sql import cell_key
from tests.server.remote import grant, headers_of
from tests.signin import ADMIN

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CELLS = 8  # one cell per writer thread
MODEL: dict[str, Any] = {
    "name": "m",
    "dimensions": [
        {"name": "Item", "elements": [f"i{n}" for n in range(CELLS)]},
        {"name": "Measure", "role": "measure", "elements": ["Amount"]},
    ],
    "cubes": [{"name": "C", "dimensions": ["Item", "Measure"]}],
}
VIEW = {
    "rows": [{"dimension": "Item", "members": "members()"}],
    "columns": [{"dimension": "Measure", "members": ["Amount"]}],
}


class Proxy:
    """Forwards TCP connections to ``upstream`` until it is cut; then refuses them."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._upstream_ports: set[int] = set()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.open()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._listener = listener
        self._spawn(self._accept, listener)

    def cut(self) -> None:
        """Close the listener (connecting is refused) and every connection through it."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
            self._upstream_ports.clear()
        for s in sockets:
            _close(s)

    def server_ports(self) -> list[int]:
        """The local ports of the connections to PostgreSQL (``pg_stat_activity.client_port``)."""
        with self._lock:
            return sorted(self._upstream_ports)

    def close(self) -> None:
        self.cut()
        for t in self._threads:
            t.join(5)

    def _spawn(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            client.settimeout(None)
            server.settimeout(None)
            with self._lock:
                self._sockets |= {client, server}
                self._upstream_ports.add(server.getsockname()[1])
            self._spawn(self._pump, client, server)
            self._spawn(self._pump, server, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            _close(s)
        with self._lock:
            self._sockets -= {source, sink}


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[Proxy]:
    parts = urlsplit(postgres_url)
    p = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield p
    p.close()


def _through(url: str, proxy: Proxy) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{proxy.port}" if user else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class Writers:
    """One thread per cell, writing 1, 2, 3 … to it; every answer recorded."""

    def __init__(self, url: str, people: dict[str, dict[str, str]]) -> None:
        self.url = url
        self.people = people
        self.stop = threading.Event()
        self.acked: dict[int, float] = {}  # cell -> the last value a 200 answered
        self.maybe: dict[int, set[float]] = {}  # cell -> values answered 503 written=null since
        self.statuses: list[int] = []
        self.answered: list[tuple[float, int]] = []  # (when, status)
        self.bad: list[str] = []
        self.slowest = 0.0
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(CELLS)]

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def _run(self, n: int) -> None:
        headers = {**self.people[f"w{n}"], "X-Plancube-Session": f"s{n}"}
        value = 0.0
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self.stop.is_set():
                value += 1
                body = {"cells": [{"elements": [f"i{n}", "Amount"], "value": value}]}
                t0 = time.monotonic()
                try:
                    r = client.post("/api/models/m/cubes/C/cells", json=body, headers=headers)
                except httpx.HTTPError as exc:
                    self.bad.append(f"cell {n}: {exc!r}")
                    return
                self.slowest = max(self.slowest, time.monotonic() - t0)
                self.statuses.append(r.status_code)
                self.answered.append((time.monotonic(), r.status_code))
                if r.status_code == 200:
                    self.acked[n] = value
                    self.maybe[n] = set()
                elif r.status_code == 503 and _is_unavailable(r):
                    if r.json()["error"]["details"].get("written") is None:
                        self.maybe.setdefault(n, set()).add(value)
                    time.sleep(0.05)
                else:
                    self.bad.append(f"cell {n}: {r.status_code} {r.text[:300]}")
                    return


def _is_unavailable(r: httpx.Response) -> bool:
    body = r.json()
    return (
        body["error"]["code"] == "storage_unavailable"
        and int(r.headers["Retry-After"]) > 0
        and set(body) == {"error"}
    )


def _health(url: str) -> httpx.Response:
    return httpx.get(f"{url}/api/health", timeout=30)


def _wait_until_healthy(url: str, timeout: float = 30) -> float:
    t0 = time.monotonic()
    while _health(url).status_code != 200:
        assert time.monotonic() - t0 < timeout, "the server did not recover"
        time.sleep(0.05)
    return time.monotonic() - t0


def test_postgres_cut_off_and_terminated_under_writers(
    pg_schema_url: str, postgres_url: str, proxy: Proxy, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    names = [f"w{n}" for n in range(CELLS)]
    people = headers_of(pg_schema_url, ADMIN, "late", *names)
    admin = people[ADMIN]
    with launched(["serve", "--db", _through(pg_schema_url, proxy)], log) as server:
        r = httpx.post(f"{server.url}/api/models/import", json=MODEL, headers=admin)
        assert r.status_code == 201
        grant(server.url, admin, "m", "planner", "late", *names)
        with Writers(server.url, people) as writers:
            time.sleep(1.0)
            proxy.cut()  # PostgreSQL "restarts": connections closed, new ones refused
            t_cut = time.monotonic()
            time.sleep(0.5)
            down = _health(server.url)
            assert down.status_code == 503, down.text
            assert down.json()["status"] == "storage_unavailable"
            assert down.json()["storage"]["status"] == "unavailable"
            assert int(down.headers["Retry-After"]) > 0
            # a token the server has not seen yet cannot be checked now: 503, not 401
            body = {"cells": [{"elements": ["i0", "Amount"], "value": -1.0}]}
            late = httpx.post(
                f"{server.url}/api/models/m/cubes/C/cells", json=body, headers=people["late"]
            )
            assert late.status_code == 503 and _is_unavailable(late), late.text
            time.sleep(max(0.0, 3.0 - (time.monotonic() - t_cut)))
            proxy.open()
            recovered_s = _wait_until_healthy(server.url)
            time.sleep(1.0)
            # what a restart looks like to a connected client: FATAL 57P01, then EOF
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                ports = proxy.server_ports()
                ended = conn.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE client_port = ANY(%s)",
                    [ports],
                ).fetchone()
            assert ended is not None and ended[0] >= 1, ports
            t_ended = time.monotonic()
            time.sleep(2.0)
        assert writers.bad == []
        assert writers.slowest < 15, writers.slowest  # bounded: never a hang
        unavailable = writers.statuses.count(503)
        assert unavailable >= 1  # the cut was felt
        # and writes go on once it is back, without a restart of the server
        assert any(t > t_ended + 0.5 and status == 200 for t, status in writers.answered)
        print(
            f"\n{len(writers.statuses)} writes: {writers.statuses.count(200)} acknowledged, "
            f"{unavailable} answered 503; healthy again {recovered_s:.2f} s after the proxy "
            f"reopened; slowest answer {writers.slowest:.2f} s"
        )

        # every acknowledged write is stored, and the engine shows what storage holds
        schema = pg_schema_url.rsplit("search_path%3D", 1)[-1]
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"SET search_path = {schema}")
            stored = dict(conn.execute("SELECT key, num FROM cells WHERE model = 'm'").fetchall())
        r = httpx.post(f"{server.url}/api/models/m/cubes/C/view", json=VIEW, headers=admin)
        view = r.json()["values"]
        for n in range(CELLS):
            value = stored.get(cell_key("m", "C", address([f"i{n}", "Amount"])))
            assert value == writers.acked.get(n) or value in writers.maybe.get(n, ()), (n, value)
            assert view[n][0] == value


def test_an_idle_connection_ended_by_the_server_is_not_handed_out(postgres_url: str) -> None:
    pool = Pool(postgres_url, max_size=2)
    with pool.connection() as conn:
        pid = conn.info.backend_pid
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the FATAL message reaches the idle socket
    with pool.connection() as conn:
        assert conn.info.backend_pid != pid
        assert conn.execute("SELECT 1").fetchone() == (1,)
    pool.close()


def test_a_server_that_never_answers_costs_one_connect_timeout() -> None:
    silent = socket.socket()  # accepts connections (the kernel does) and never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    pool = Pool(f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/x?connect_timeout=1")
    t0 = time.monotonic()
    with pytest.raises(psycopg.OperationalError), pool.connection():
        pass
    assert time.monotonic() - t0 < 3
    silent.close()


def test_a_request_waits_a_bounded_time_for_a_busy_pool(postgres_url: str) -> None:
    pool = Pool(postgres_url, max_size=1, wait_timeout=0.3)
    with pool.connection():
        t0 = time.monotonic()
        with pytest.raises(psycopg.OperationalError, match="busy"), pool.connection():
            pass
        assert time.monotonic() - t0 < 1
    pool.close()
