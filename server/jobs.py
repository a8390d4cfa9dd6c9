"""Background imports: a job per import, with progress, a cancel, and its report kept.

A long load is started as a job (``POST …/import?background=true``, answered 202 at once) and
run on a worker thread through the same ``server.services.imports.run`` as a synchronous one,
which tells the job each phase as it starts (``Progress.phase``): ``reading`` the file,
``validating`` it whole, ``committing`` it (the store's one transaction, then the engine's apply
and recalculation). The job's state is ``queued``, ``running``, then ``succeeded``, ``failed``
or ``cancelled``.

- **Progress**: each phase holds a share of the whole (``WEIGHTS``), so ``percent`` moves at
  phase boundaries; ``rows_per_s`` is the file's rows over the time so far and ``eta_s`` the
  time so far scaled by what is left. Every change goes to the owner's live-feed sockets as a
  ``{"type": "job", "job": …}`` message (``listen``), besides ``GET /api/jobs/{id}``.
- **Cancel**: heard at each phase boundary up to ``committing``, which raises ``Cancelled``
  out of the import before anything is written. Once the commit has begun it is atomic and
  cannot be stopped: a cancel is refused (409 ``job_committing``).
- **Kept**: the job's row (``import_jobs``) is written when it is queued, when it starts and
  when it ends — with the JSON report the synchronous import answers and the problems as CSV —
  so a finished job's report outlives the server process. A job whose row says queued or
  running but that no process of this server holds was cut short by a restart: it reads as
  failed (its commit, if it got that far, is in the model's history, of source ``import``).
- **Who**: a job is seen and cancelled by its owner only (and a server admin); anyone else
  hears 404, as if it did not exist.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlmodel import col, select

from server.context import Context
from server.errors import NotFound, PlancubeError
from server.events import Outbox, dumps, error_body
from server.imports.read import read
from server.services import imports as service
from server.storage.metadata import ImportJob
from server.storage.sql import now
from server.workspace import Workspace

log = logging.getLogger("plancube.jobs")

WORKERS = 2  # imports at once; each holds the model's write lock while it validates
WEIGHTS = {"queued": 0, "reading": 0, "validating": 15, "committing": 55, "done": 100}
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
INTERRUPTED = "the server stopped while the job ran"


class JobNotFound(NotFound):
    code = "job_not_found"


class JobCommitting(PlancubeError):
    status = 409
    code = "job_committing"


class JobFinished(PlancubeError):
    status = 409
    code = "job_finished"


class Cancelled(PlancubeError):
    """Raised out of the import at a phase boundary once its job is cancelled."""

    status = 409
    code = "job_cancelled"


@dataclass
class Job:
    """A job while this process runs it (the database row is its record)."""

    board: Board
    row: ImportJob
    total: int = 0  # the phase's own measure (bytes while reading, rows after)
    started: float = 0.0
    committing: bool = False
    cancel_requested: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    # Progress (server.services.imports): called from the worker thread
    def phase(self, name: str, done: int, total: int) -> None:
        with self.lock:
            if self.cancel_requested:
                raise Cancelled("the import was cancelled before its commit; nothing was written")
            self.row.phase = name
            self.total = total
            if name == "committing":
                self.committing = True
        self.board.announce(self)

    def status(self) -> dict[str, Any]:
        return status(self.row, self)


def status(row: ImportJob, live: Job | None = None) -> dict[str, Any]:
    """A job as the API and the feed show it."""
    state, message = row.state, row.message
    if live is None and state not in FINISHED:
        state, message = "failed", INTERRUPTED
    phase = "done" if state == "succeeded" else row.phase
    percent = WEIGHTS.get(phase, 0) if state != "succeeded" else 100
    elapsed = None
    if live is not None and live.started:
        elapsed = time.monotonic() - live.started
    elif row.started_at and row.finished_at:
        elapsed = _seconds(row.started_at, row.finished_at)
    rate = row.rows / elapsed if elapsed and row.rows else None
    eta = None
    if state == "running" and elapsed is not None and percent > 0:
        eta = round(elapsed * (100 - percent) / percent, 1)
    out: dict[str, Any] = {
        "id": row.id,
        "model": row.model,
        "cube": row.cube,
        "file": row.file_name,
        "state": state,
        "phase": phase,
        "percent": percent,
        "rows": row.rows,
        "rows_per_s": round(rate, 1) if rate is not None else None,
        "eta_s": 0.0 if state in FINISHED else eta,
        "elapsed_s": round(elapsed, 3) if elapsed is not None else None,
        "message": message,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "cancel_requested": bool(live and live.cancel_requested),
        "report": orjson.loads(row.report) if row.report else None,
        "links": {"self": f"/api/jobs/{row.id}", "report": f"/api/jobs/{row.id}/report"},
    }
    return out


def _seconds(start: str, end: str) -> float:
    from datetime import datetime

    def parse(t: str) -> datetime:
        return datetime.fromisoformat(t.replace("Z", "+00:00"))

    return max((parse(end) - parse(start)).total_seconds(), 0.0)


class Board:
    """A workspace's jobs: those running here, and the owners' feed sockets to tell."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.live: dict[str, Job] = {}
        self._slots = threading.Semaphore(WORKERS)
        self._lock = threading.Lock()
        self._listeners: dict[str, set[Outbox]] = {}

    # -- the live feed -----------------------------------------------------------------------
    def listen(self, user_id: str, outbox: Outbox) -> None:
        with self._lock:
            self._listeners.setdefault(user_id, set()).add(outbox)

    def unlisten(self, user_id: str, outbox: Outbox) -> None:
        with self._lock:
            self._listeners.get(user_id, set()).discard(outbox)

    def announce(self, job: Job) -> None:
        with self._lock:
            outboxes = list(self._listeners.get(job.row.user_id, ()))
        if not outboxes:
            return
        text = dumps({"type": "job", "job": job.status()})
        for box in outboxes:
            with contextlib.suppress(RuntimeError):  # its loop has closed: the socket is going
                box.loop.call_soon_threadsafe(box.post, text)

    # -- the record --------------------------------------------------------------------------
    def _save(self, row: ImportJob) -> None:
        with self.ws.store.transaction() as tx:
            tx.session.merge(ImportJob.model_validate(row.model_dump()))

    def find(self, ctx: Context, job_id: str) -> tuple[ImportJob, Job | None]:
        live = self.live.get(job_id)
        row: ImportJob | None
        if live is not None:
            row = live.row
        else:
            with self.ws.store.transaction() as tx:
                row = tx.session.get(ImportJob, job_id)
                if row is not None:
                    tx.session.expunge(row)
            live = self.live.get(job_id)  # it may have ended between the two looks
            if live is not None:
                row = live.row
        if row is None or not (ctx.caller.server_admin or row.user_id == ctx.caller.user_id):
            raise JobNotFound(f"no import job {job_id!r}", job=job_id)
        return row, live

    def list(self, ctx: Context, limit: int = 50) -> list[dict[str, Any]]:
        with self.ws.store.transaction() as tx:
            rows = tx.session.exec(
                select(ImportJob)
                .where(ImportJob.user_id == ctx.caller.user_id)
                .order_by(col(ImportJob.created_at).desc())
                .limit(limit)
            ).all()
            for r in rows:
                tx.session.expunge(r)
        return [status(r, self.live.get(r.id)) for r in rows]

    # -- running -----------------------------------------------------------------------------
    def start(
        self,
        ctx: Context,
        cube: str,
        raw: bytes,
        fmt: str,
        options: dict[str, Any],
        mapping: service.Mapping,
        file_name: str = "",
        **kw: Any,
    ) -> dict[str, Any]:
        """Queue an import; the answer is the job's status (queued)."""
        ctx.rt.cube(cube)  # an unknown cube is a 404 now, not a failed job later
        row = ImportJob(
            user_id=ctx.caller.user_id,
            model=ctx.model_name,
            cube=cube,
            file_name=file_name,
            state="queued",
            phase="queued",
        )
        self._save(row)
        job = Job(self, row)
        self.live[row.id] = job
        thread = threading.Thread(
            target=self._run,
            args=(job, ctx, cube, raw, fmt, options, mapping, kw),
            name=f"import-job-{row.id[:8]}",
            daemon=True,
        )
        thread.start()
        return job.status()

    def cancel(self, ctx: Context, job_id: str) -> dict[str, Any]:
        row, live = self.find(ctx, job_id)
        if live is None or row.state in FINISHED:
            raise JobFinished(
                f"import job {job_id!r} has ended ({status(row)['state']}); nothing to cancel",
                job=job_id,
                state=status(row)["state"],
            )
        with live.lock:
            if live.committing:
                raise JobCommitting(
                    f"import job {job_id!r} is committing: the commit is atomic and cannot be "
                    "stopped; it will succeed or fail whole",
                    job=job_id,
                )
            live.cancel_requested = True
        self.announce(live)
        return live.status()

    def _run(
        self,
        job: Job,
        ctx: Context,
        cube: str,
        raw: bytes,
        fmt: str,
        options: dict[str, Any],
        mapping: service.Mapping,
        kw: dict[str, Any],
    ) -> None:
        with self._slots:
            row = job.row
            try:
                row.state, row.started_at = "running", now()
                job.started = time.monotonic()
                self._save(row)
                job.phase("reading", 0, len(raw))
                table = read(raw, fmt, **options)
                del raw
                row.rows = table.num_rows
                outcome = service.run(ctx, cube, table, mapping, progress=job, **kw)
                row.state, row.phase = "succeeded", "done"
                row.report = orjson.dumps(outcome.json(kw.get("dry_run", False))).decode()
                row.problems = outcome.problems.csv().decode()
            except Cancelled as exc:
                row.state, row.message = "cancelled", exc.message
            except service.ImportRejected as exc:
                row.state, row.message = "failed", exc.message
                report: dict[str, Any] = {"error": error_body(exc)}
                if exc.outcome is not None:
                    report.update(exc.outcome.json(False))
                    row.problems = exc.outcome.problems.csv().decode()
                row.report = orjson.dumps(report).decode()
            except PlancubeError as exc:
                row.state, row.message = "failed", exc.message
                row.report = orjson.dumps({"error": error_body(exc)}).decode()
            except Exception as exc:  # a bug: the job fails, the server goes on
                log.exception("import job %s failed", row.id)
                row.state, row.message = "failed", f"internal error: {type(exc).__name__}"
            row.finished_at = now()
            try:
                self._save(row)
            except Exception:
                log.exception("import job %s: its end could not be recorded", row.id)
            self.announce(job)
            self.live.pop(row.id, None)


_BOARDS: weakref.WeakKeyDictionary[Workspace, Board] = weakref.WeakKeyDictionary()
_BOARDS_LOCK = threading.Lock()


def board(ws: Workspace) -> Board:
    with _BOARDS_LOCK:
        found = _BOARDS.get(ws)
        if found is None:
            found = _BOARDS[ws] = Board(ws)
        return found
