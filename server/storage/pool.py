"""Connections to PostgreSQL: made when needed, dropped when broken, every wait bounded.

PostgreSQL restarts, fails over, or is cut off by the network; meanwhile the plan server must
answer 503 at once (never hang), and carry on by itself when the database is back. A pool with a
background reconnect loop gets both wrong: requests wait for its full timeout while the database
is down, and its back-off (1, 2, 4, 8 … s) leaves the server down for up to as long again after
the database is back. So this pool keeps nothing in the background:

- a connection is made when a request needs one and none is idle, so the first request after
  the database is back connects, and every request during an outage fails in one connect
  attempt (refused at once, or after ``connect_timeout``); connections are in autocommit mode,
  as the store opens every transaction itself;
- an idle connection is checked before it is reused, without a round trip: an idle socket with
  something to read holds the server's farewell (a restart or ``pg_terminate_backend`` sends a
  FATAL error, then closes), or is closed, so the connection is dropped instead of failing the
  request that would have drawn it;
- a query is bounded on both sides: ``statement_timeout`` if the server is stuck, TCP keepalives
  and ``tcp_user_timeout`` if the peer is gone without a word;
- at most ``max_size`` connections are open; a request waits at most ``wait_timeout`` for one.

The URL may set any of these itself (``?connect_timeout=2``, ``options=-c statement_timeout=…``):
it wins over the defaults here. Failures are ``psycopg.OperationalError``; the store turns them
into 503 ``storage_unavailable``.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

# libpq parameters, unless the URL names them (keepalives: a silent peer is found dead in
# 10 + 3 x 5 s; tcp_user_timeout: data sent and not acknowledged for 15 s breaks the connection)
DEFAULTS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "15000",
}
STATEMENT_TIMEOUT_MS = 60_000  # a statement that takes longer is cancelled by the server


class PoolBusy(psycopg.OperationalError):
    """Every connection stayed in use for the whole wait."""


class Pool:
    def __init__(self, url: str, max_size: int = 10, wait_timeout: float = 10.0) -> None:
        params: dict[str, Any] = {**DEFAULTS, **conninfo_to_dict(url)}
        # ours first: of two settings of one parameter in ``options`` the server keeps the last
        ours = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
        params["options"] = " ".join(filter(None, [ours, str(params.get("options") or "")]))
        self._conninfo = make_conninfo("", **params)
        self.max_size = max_size
        self.wait_timeout = wait_timeout
        self._slots = threading.BoundedSemaphore(max_size)
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        if not self._slots.acquire(timeout=self.wait_timeout):
            raise PoolBusy(
                f"all {self.max_size} connections to PostgreSQL stayed busy for "
                f"{self.wait_timeout:g} s"
            )
        conn = None
        try:
            conn = self._reuse() or psycopg.connect(self._conninfo, autocommit=True)
            yield conn
        finally:
            if conn is not None:
                self._put(conn)
            self._slots.release()

    def _reuse(self) -> psycopg.Connection | None:
        while True:
            with self._lock:
                if not self._idle:
                    return None
                conn = self._idle.pop()  # the most recent: the likeliest to be alive
            if _idle_and_quiet(conn):
                return conn
            conn.close()

    def _put(self, conn: psycopg.Connection) -> None:
        if conn.closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
            conn.close()
            return
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _idle_and_quiet(conn: psycopg.Connection) -> bool:
    """Whether an idle connection looks usable: open, and its server has said nothing since."""
    if conn.closed or conn.broken:
        return False
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return False
    return not readable
