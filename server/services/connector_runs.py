"""Running a connector: pull its source whole, load it as one import, keep the run's record.

A run — started by hand (``POST …/connectors/{name}/run``, 202 at once) or by the scheduler —
goes on a worker thread:

1. **claim**: one conditional update sets the connector's ``running`` to the run's id where
   none is set, so a second start while one runs is refused (409 ``connector_running``), and
   the scheduler skips that firing. A claim left by a server that stopped mid-run is taken
   over: at once on DuckDB (one process owns the file, so no other run can be going on), after
   ``STALE_AFTER`` on PostgreSQL (another process may still be running it).
2. **pull**: every batch the connector type yields is read (``pulling``) into one Arrow table,
   and the new watermark asked for after;
3. **import**: the table goes through ``server.services.imports.run`` with the connector's
   ``LoadSpec`` — validated whole, then one commit of source ``import`` — as the caller who
   started it, or, for a scheduled run, as the connector itself (``connector:NAME``, with a
   system context's rights: whoever may configure a connector decides what it loads);
4. **record**: the run ends ``succeeded`` (rows, cells written, the commit) or ``failed``
   with the error. The watermark advances only with a committed run, in the same transaction
   that records it and releases the claim; a failed pull or a rejected import writes nothing
   and leaves the watermark where it was. Every secret value the run read is redacted from the
   error and the report before either is stored or logged. A connector keeps its newest
   ``KEEP_RUNS`` runs.

A crash between the cells' commit and the watermark's leaves the old watermark: the next run
pulls those rows again, which an ``upsert`` writes as they are (an ``accumulate`` would add
them twice; docs/connectors.md says so).
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import delete, update
from sqlmodel import col, select

from connectors import PullFailed, Watermark
from server.connector_secrets import Secrets
from server.context import Context
from server.errors import NotFound, PlancubeError
from server.events import error_body
from server.imports.spec import LoadSpec
from server.services import connectors as service
from server.services import imports
from server.storage.connector_records import ConnectorRow, ConnectorRun
from server.storage.sql import now

log = logging.getLogger("plancube.connectors")

KEEP_RUNS = 1_000  # a connector's history keeps its newest runs
STALE_AFTER = timedelta(hours=6)  # a claim older than this, on PostgreSQL, is abandoned
INTERRUPTED = "the server stopped while the run went on"


class RunNotFound(NotFound):
    code = "connector_run_not_found"


_LIVE: set[str] = set()  # ids of the runs this process is running
_LIVE_LOCK = threading.Lock()


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _claim(ctx: Context, name: str, run: ConnectorRun, stale_before: str) -> ConnectorRow:
    """Claim the connector for ``run`` and record the run, in one transaction."""
    store = ctx.ws.store
    with store.transaction() as tx:
        row = service.find(ctx, tx, name)
        previous = row.running
        with _LIVE_LOCK:
            taken_over = previous is not None and previous not in _LIVE
        takeover = taken_over and (not store.shared or (row.claimed_at or "") < stale_before)
        stmt = (
            update(ConnectorRow)
            .where(
                col(ConnectorRow.model) == ctx.model_name,
                col(ConnectorRow.name) == name,
                col(ConnectorRow.running) == previous
                if takeover
                else col(ConnectorRow.running).is_(None),
            )
            .values(running=run.id, claimed_at=now())
        )
        if tx.session.exec(stmt).rowcount != 1:
            raise service.ConnectorRunning(
                f"connector {name!r} is running already (run {previous}); a connector runs "
                "once at a time",
                connector=name,
                run=previous,
            )
        if takeover and previous is not None:
            old = tx.session.get(ConnectorRun, previous)
            if old is not None and old.status == "running":
                old.status, old.error, old.ended_at = "failed", INTERRUPTED, now()
                tx.session.add(old)
        run.watermark_before = row.watermark
        tx.session.add(run)
        tx.session.flush()
        tx.session.refresh(row)
        tx.session.expunge(row)
        return row


def start(ctx: Context, name: str, cause: str = "api", dry_run: bool = False) -> dict[str, Any]:
    """Claim the connector and run it on a worker thread; the run as it starts. A dry run
    pulls and validates, and writes nothing: no cells, no watermark."""
    ctx.rt  # noqa: B018 - an unknown model is a 404
    run = ConnectorRun(
        model=ctx.model_name,
        connector=name,
        cause=cause,
        author=ctx.author,
        status="running",
        dry_run=dry_run,
    )
    run.phase = "pulling"
    stale = _iso(datetime.fromisoformat(now().replace("Z", "+00:00")) - STALE_AFTER)
    with _LIVE_LOCK:
        _LIVE.add(run.id)
    try:
        row = _claim(ctx, name, run, stale)
    except BaseException:
        with _LIVE_LOCK:
            _LIVE.discard(run.id)
        raise
    shown = run_json(run)
    thread = threading.Thread(
        target=_run, args=(ctx, row, run), name=f"connector-{name[:16]}", daemon=True
    )
    thread.start()
    return shown


@dataclass
class _Phases:
    """The import's phases, kept on the run row (``imports.Progress``)."""

    run: ConnectorRun

    def phase(self, name: str, done: int, total: int) -> None:
        self.run.phase = name


def pull_table(row: ConnectorRow, secrets: Secrets) -> tuple[pa.Table, Watermark]:
    """The whole pull as one table, and the new watermark."""
    kind = service.connector_types().get(row.type)
    if kind is None:
        raise PullFailed(f"no connector type {row.type!r} (a plugin that is not installed?)")
    config = kind.config.model_validate(orjson.loads(row.config))
    watermark = orjson.loads(row.watermark) if row.watermark is not None else None
    pulled = kind.pull(config, secrets, watermark)
    tables = [pa.Table.from_batches([b]) for b in pulled.batches if b.num_rows]
    if not tables:
        return pa.table({}), pulled.watermark()
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise PullFailed(f"the pages' columns do not agree in type: {exc}") from None
    return table, pulled.watermark()


def _run(ctx: Context, row: ConnectorRow, run: ConnectorRun) -> None:
    secrets = Secrets(orjson.loads(row.secrets))
    watermark: str | None = row.watermark
    committed = False
    try:
        table, new = pull_table(row, secrets)
        run.rows, run.phase = table.num_rows, "validating"
        _save(ctx, run)  # what the run read, shown while it validates and commits
        if table.num_rows:
            spec = LoadSpec.model_validate_json(row.load_spec)
            outcome = imports.run(
                ctx,
                row.cube,
                table,
                spec.mapping(),
                mode=spec.mode,
                dry_run=run.dry_run,
                load_valid_rows=spec.load_valid_rows,
                message=f"connector {row.name} (run {run.id[:8]})",
                progress=_Phases(run),
            )
            run.cells = outcome.loaded
            if outcome.result is not None and outcome.result.commit is not None:
                run.commit_id = outcome.result.commit.id
            run.report = secrets.redact(orjson.dumps(outcome.json(run.dry_run)).decode())
        watermark = orjson.dumps(new).decode() if new is not None else row.watermark
        run.status, committed = "succeeded", not run.dry_run
    except imports.ImportRejected as exc:
        run.status, run.error = "failed", secrets.redact(exc.message)
        report: dict[str, Any] = {"error": error_body(exc)}
        if exc.outcome is not None:
            report.update(exc.outcome.json(False))
        run.report = secrets.redact(orjson.dumps(report).decode())
    except PullFailed as exc:
        run.status, run.error = "failed", secrets.redact(str(exc))
    except PlancubeError as exc:
        run.status, run.error = "failed", secrets.redact(f"{exc.code}: {exc.message}")
        run.report = secrets.redact(orjson.dumps({"error": error_body(exc)}).decode())
    except Exception as exc:  # a bug, or a plugin's: the run fails, the server goes on
        run.status, run.error = "failed", f"internal error: {type(exc).__name__}"
        log.error(
            "connector %r of model %r: run %s failed\n%s",
            row.name,
            row.model,
            run.id,
            secrets.redact(traceback.format_exc()),
        )
    run.phase, run.ended_at = "done", now()
    run.watermark_after = watermark if committed else row.watermark
    try:
        _finish(ctx, row, run, watermark if committed else None)
    except Exception:
        log.error("connector %r: the end of run %s could not be recorded", row.name, run.id)
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(run.id)
    if run.status == "failed":
        log.warning("connector %r of model %r: run %s failed", row.name, row.model, run.id)


def _save(ctx: Context, run: ConnectorRun) -> None:
    with ctx.ws.store.transaction() as tx:
        tx.session.merge(ConnectorRun.model_validate(run.model_dump()))


def _finish(ctx: Context, row: ConnectorRow, run: ConnectorRun, watermark: str | None) -> None:
    """Record the run's end, advance the watermark (a committed run's) and release the claim,
    in one transaction."""
    values: dict[str, Any] = {"running": None, "claimed_at": None}
    if watermark is not None:
        values["watermark"] = watermark
    with ctx.ws.store.transaction() as tx:
        tx.session.merge(ConnectorRun.model_validate(run.model_dump()))
        tx.session.exec(
            update(ConnectorRow)
            .where(
                col(ConnectorRow.model) == row.model,
                col(ConnectorRow.name) == row.name,
                col(ConnectorRow.running) == run.id,
            )
            .values(**values)
        )
        old = tx.session.exec(
            select(ConnectorRun.id)
            .where(ConnectorRun.model == row.model, ConnectorRun.connector == row.name)
            .order_by(col(ConnectorRun.started_at).desc())
            .offset(KEEP_RUNS)
        ).all()
        if old:
            tx.session.exec(delete(ConnectorRun).where(col(ConnectorRun.id).in_(old)))


def _live() -> set[str]:
    with _LIVE_LOCK:
        return set(_LIVE)


def run_json(
    run: ConnectorRun, live: set[str] | None = None, shared: bool = False
) -> dict[str, Any]:
    """A run as the API shows it. ``live``: the runs of this process, read *before* the row
    (a run leaves it only after its end is committed, so a row read after still saying
    ``running`` of a run not in it was cut short) — unless the store is shared, where another
    process may be running it."""
    status, error = run.status, run.error
    if status == "running" and live is not None and run.id not in live and not shared:
        status, error = "failed", INTERRUPTED
    base = f"/api/models/{run.model}/connectors/{run.connector}/runs/{run.id}"
    return {
        "id": run.id,
        "connector": run.connector,
        "model": run.model,
        "cause": run.cause,
        "dry_run": run.dry_run,
        "author": run.author,
        "status": status,
        "phase": run.phase,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "rows": run.rows,
        "cells": run.cells,
        "commit": run.commit_id,
        "watermark_before": _json(run.watermark_before),
        "watermark_after": _json(run.watermark_after),
        "error": error,
        "report": _json(run.report),
        "links": {"self": base},
    }


def _json(text: str | None) -> Any:
    return orjson.loads(text) if text is not None else None


def history(ctx: Context, name: str, limit: int = 50) -> list[dict[str, Any]]:
    live = _live()
    with ctx.ws.store.transaction() as tx:
        service.find(ctx, tx, name)
        rows = tx.session.exec(
            select(ConnectorRun)
            .where(ConnectorRun.model == ctx.model_name, ConnectorRun.connector == name)
            .order_by(col(ConnectorRun.started_at).desc())
            .limit(limit)
        ).all()
        return [run_json(r, live, ctx.ws.store.shared) for r in rows]


def get(ctx: Context, name: str, run_id: str) -> dict[str, Any]:
    live = _live()
    with ctx.ws.store.transaction() as tx:
        service.find(ctx, tx, name)
        run = tx.session.get(ConnectorRun, run_id)
        if run is None or run.model != ctx.model_name or run.connector != name:
            raise RunNotFound(f"connector {name!r} has no run {run_id!r}", run=run_id)
        return run_json(run, live, ctx.ws.store.shared)
