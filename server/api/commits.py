"""Routes for commits (history, revert) and snapshots."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from server.api.deps import DestructiveDep
from server.api.guards import Planner, Viewer
from server.api.route import StrictJsonRoute
from server.directory import Role
from server.limits import DEFAULT_CHANGES_PAGE, MAX_CHANGES_PAGE, MAX_COMMITS_PAGE
from server.services import commits as service
from server.services.commits import RevertRequest, SnapshotCreate

router = APIRouter(prefix="/api/models/{model}", tags=["history"], route_class=StrictJsonRoute)
CommitId = Annotated[int, Path(ge=0, le=2**62, description="a commit id")]


@router.get(
    "/commits",
    summary="List commits, newest first",
    description="At most `limit` commits (1 to 1,000); page on with `before`: the id of the "
    "last commit of the page.",
)
def list_commits(
    ctx: Viewer,
    model: str,
    limit: Annotated[int, Query(ge=1, le=MAX_COMMITS_PAGE)] = 50,
    before: Annotated[
        int | None, Query(ge=0, le=2**62, description="only commits older than this id")
    ] = None,
) -> list[dict[str, Any]]:
    return service.get_all(ctx, limit, before)


@router.get(
    "/commits/{commit}",
    summary="A commit with the cells it changed (old -> new), a page at a time",
    description="`changes` holds at most `limit` of the commit's changes (default 1,000, at "
    "most 10,000) from `offset`, in cube and address order; `total` counts them all (as "
    "`cells` does) and `next` is the URL of the next page, null on the last.",
)
def get_commit(
    ctx: Viewer,
    model: str,
    commit: CommitId,
    limit: Annotated[
        int, Query(ge=1, le=MAX_CHANGES_PAGE, description="changes in this page")
    ] = DEFAULT_CHANGES_PAGE,
    offset: Annotated[
        int, Query(ge=0, le=2**62, description="changes to skip, in cube and address order")
    ] = 0,
) -> dict[str, Any]:
    return service.get(ctx, commit, limit, offset)


@router.post(
    "/commits/{commit}/revert",
    summary="Revert a commit, as a new commit",
    description="Puts back the old value of every cell the commit changed. If any of them "
    "changed again later, answers 409 `write_conflict` naming them, unless `force` is set "
    "(the model's admins only; audited). Refused whole (403 `write_forbidden`) if any of "
    "the cells is not the caller's to change.",
)
def revert_commit(
    ctx: Planner,
    guard: DestructiveDep,
    model: str,
    commit: CommitId,
    body: RevertRequest | None = None,
) -> dict[str, Any]:
    req = body or RevertRequest()
    if req.force:
        ctx.require(Role.admin, "a forced revert")
    result = service.revert(ctx, commit, req)
    if req.force:
        made = result["commit"]
        guard.done(
            "commit.revert_forced",
            model=model,
            reverted=commit,
            commit=made and made["id"],
            changed=result["changed"],
        )
    return result


@router.get("/snapshots", summary="List snapshots")
def list_snapshots(ctx: Viewer, model: str) -> list[dict[str, Any]]:
    return service.get_all_snapshots(ctx)


@router.post("/snapshots", status_code=201, summary="Name a commit (default: the head)")
def create_snapshot(ctx: Planner, model: str, body: SnapshotCreate) -> dict[str, Any]:
    return service.create_snapshot(ctx, body)


@router.get("/snapshots/{name}", summary="Get a snapshot")
def get_snapshot(ctx: Viewer, model: str, name: str) -> dict[str, Any]:
    return service.get_snapshot(ctx, name)
