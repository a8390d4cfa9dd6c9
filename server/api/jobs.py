"""Routes for background imports (``server.jobs``): a job's progress, its report, its cancel.

A job is started by the import route itself (``POST …/cubes/{cube}/import?background=true``,
answered 202 with the job and its ``Location``); these routes follow it. Only its owner (and
a server admin) sees a job: anyone else hears 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from server.api.error_docs import _response
from server.api.guards import SignedIn
from server.api.route import StrictJsonRoute
from server.jobs import board

router = APIRouter(prefix="/api/jobs", tags=["imports"], route_class=StrictJsonRoute)


@router.get(
    "",
    summary="The caller's import jobs, newest first",
    description="Each as `GET /api/jobs/{id}` shows it (at most `limit`).",
)
async def list_jobs(
    ctx: SignedIn, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict[str, Any]]:
    return await run_in_threadpool(board(ctx.ws).list, ctx, limit)


@router.get(
    "/{job}",
    summary="An import job's state, phase, progress and, once it ends, its report",
    description="`state`: queued, running, succeeded, failed or cancelled; `phase`: reading, "
    "validating, committing (the one atomic commit, then recalculation) or done; `percent`, "
    "`rows_per_s` and `eta_s` (seconds left, estimated); `report` once it ends: the JSON the "
    "synchronous import answers (with `error` when it failed). See docs/imports.md.",
)
async def get_job(ctx: SignedIn, job: str) -> dict[str, Any]:
    from server.jobs import status

    row, live = await run_in_threadpool(board(ctx.ws).find, ctx, job)
    return status(row, live)


@router.get(
    "/{job}/report",
    summary="An ended import job's problems as CSV (row, column, value, reason, suggestions)",
    description="The whole problem report of the job, as the synchronous import's "
    "`report=csv` gives it; 404 while the job runs or when it ended before validating.",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def job_report(ctx: SignedIn, job: str) -> Response:
    from server.jobs import JobNotFound

    row, _ = await run_in_threadpool(board(ctx.ws).find, ctx, job)
    if row.problems is None:
        raise JobNotFound(
            f"import job {job!r} has no report yet ({row.state}, {row.phase})", job=job
        )
    return Response(
        row.problems,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="import-{job[:8]}-report.csv"'},
    )


@router.delete(
    "/{job}",
    status_code=202,
    summary="Cancel an import job: nothing is written if it has not begun its commit",
    description="Answers 202 with the job (`cancel_requested`); it ends `cancelled` at its "
    "next phase boundary. 409 `job_committing` once its atomic commit has begun (too late: it "
    "succeeds or fails whole), 409 `job_finished` once it has ended.",
    responses={
        409: _response("the job is committing (job_committing) or has ended (job_finished)")
    },
)
async def cancel_job(ctx: SignedIn, job: str) -> dict[str, Any]:
    return await run_in_threadpool(board(ctx.ws).cancel, ctx, job)
