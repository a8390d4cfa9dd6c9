"""The connector scheduler: runs each connector whose cron schedule is due.

Every ``interval_s`` seconds a background thread calls ``tick(now)``, which looks at every
enabled connector with a schedule (cron, five fields, in UTC, read by ``croniter``):

- one it has not seen since its schedule was set is *armed*: its ``next_run_at`` becomes the
  schedule's next time after now (so a new schedule never fires for a time already past);
- one whose ``next_run_at`` has come is started (``server.services.connector_runs.start``, as
  the connector itself) and its ``next_run_at`` moves to the next time after now — firings
  missed while the server was down are not made up, one run catches up (the watermark says
  from where);
- one still running from before is not started again: its claim refuses the second run, and
  that firing is skipped.

Moving ``next_run_at`` is one conditional update (``WHERE next_run_at = the value read``), so of
several server processes on one PostgreSQL only one starts a firing. ``tick`` takes the time
as an argument, so tests drive it with the times they choose.

The thread runs when ``PLANCUBE_SCHEDULER`` is ``on`` (also ``1``, ``true``); it is off
otherwise — so tests and a ``plancube`` command's own app start none — and every run can still
be started by hand.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from sqlalchemy import update
from sqlmodel import col, select

from server.context import Context
from server.errors import PlancubeError
from server.services import connector_runs
from server.storage.connector_records import ConnectorRow
from server.workspace import Workspace

log = logging.getLogger("plancube.scheduler")

SETTING = "PLANCUBE_SCHEDULER"
INTERVAL_SETTING = "PLANCUBE_SCHEDULER_INTERVAL_S"
DEFAULT_INTERVAL_S = 30.0


def enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(SETTING, "").strip().lower() in ("on", "1", "true", "yes")


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def next_time(schedule: str, after: datetime) -> datetime:
    nxt: datetime = croniter(schedule, after.astimezone(UTC)).get_next(datetime)
    return nxt


class Scheduler:
    def __init__(self, ws: Workspace, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.ws = ws
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_env(cls, ws: Workspace, environ: Mapping[str, str] | None = None) -> Scheduler:
        env = os.environ if environ is None else environ
        try:
            interval = float(env.get(INTERVAL_SETTING, DEFAULT_INTERVAL_S))
        except ValueError:
            raise ValueError(f"{INTERVAL_SETTING} must be a number of seconds") from None
        return cls(ws, max(interval, 1.0))

    def _due(self) -> list[ConnectorRow]:
        with self.ws.store.transaction() as tx:
            rows = tx.session.exec(
                select(ConnectorRow).where(
                    col(ConnectorRow.enabled).is_(True), col(ConnectorRow.schedule).is_not(None)
                )
            ).all()
            for r in rows:
                tx.session.expunge(r)
            return list(rows)

    def _move(self, row: ConnectorRow, to: datetime) -> bool:
        """Set the next firing, if no one else has since ``row`` was read."""
        with self.ws.store.transaction() as tx:
            was = col(ConnectorRow.next_run_at)
            result = tx.session.exec(
                update(ConnectorRow)
                .where(
                    col(ConnectorRow.model) == row.model,
                    col(ConnectorRow.name) == row.name,
                    was.is_(None) if row.next_run_at is None else was == row.next_run_at,
                )
                .values(next_run_at=_iso(to))
            )
            return bool(result.rowcount == 1)

    def tick(self, now: datetime) -> list[dict[str, Any]]:
        """Start what is due at ``now`` (an aware time); the runs started."""
        started = []
        for row in self._due():
            assert row.schedule is not None
            following = next_time(row.schedule, now)
            if row.next_run_at is None:
                self._move(row, following)  # armed: first at its next time
                continue
            if row.next_run_at > _iso(now) or not self._move(row, following):
                continue
            ctx = Context.system(self.ws, row.model, name=f"connector:{row.name}")
            try:
                started.append(connector_runs.start(ctx, row.name, cause="schedule"))
            except PlancubeError as exc:  # running still, or its model is gone or broken
                log.info("connector %r of model %r not started: %s", row.name, row.model, exc)
        return started

    # -- the thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick(datetime.now(UTC))
            except Exception:  # the database away, say: try again at the next tick
                log.exception("the connector scheduler's tick failed")

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="connector-scheduler", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
