"""Routes for commits (history, revert) and snapshots."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from server.api.deps import AuthorDep, WorkspaceDep
from server.api.route import StrictJsonRoute
from server.services import commits as service
from server.services.commits import RevertRequest, SnapshotCreate

router = APIRouter(prefix="/api/models/{model}", tags=["history"], route_class=StrictJsonRoute)
CommitId = Annotated[int, Path(ge=0, le=2**62, description="a commit id")]


@router.get("/commits", summary="List commits, newest first")
def list_commits(
    ws: WorkspaceDep,
    model: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: Annotated[
        int | None, Query(ge=0, le=2**62, description="only commits older than this id")
    ] = None,
) -> list[dict[str, Any]]:
    return service.get_all(ws, model, limit, before)


@router.get("/commits/{commit}", summary="A commit with every cell it changed (old -> new)")
def get_commit(ws: WorkspaceDep, model: str, commit: CommitId) -> dict[str, Any]:
    return service.get(ws, model, commit)


@router.post(
    "/commits/{commit}/revert",
    summary="Revert a commit, as a new commit",
    description="Puts back the old value of every cell the commit changed. If any of them "
    "changed again later, answers 409 `write_conflict` naming them, unless `force` is set.",
)
def revert_commit(
    ws: WorkspaceDep,
    author: AuthorDep,
    model: str,
    commit: CommitId,
    body: RevertRequest | None = None,
) -> dict[str, Any]:
    return service.revert(ws, model, commit, body or RevertRequest(), author)


@router.get("/snapshots", summary="List snapshots")
def list_snapshots(ws: WorkspaceDep, model: str) -> list[dict[str, Any]]:
    return service.get_all_snapshots(ws, model)


@router.post("/snapshots", status_code=201, summary="Name a commit (default: the head)")
def create_snapshot(
    ws: WorkspaceDep, author: AuthorDep, model: str, body: SnapshotCreate
) -> dict[str, Any]:
    return service.create_snapshot(ws, model, body, author)


@router.get("/snapshots/{name}", summary="Get a snapshot")
def get_snapshot(ws: WorkspaceDep, model: str, name: str) -> dict[str, Any]:
    return service.get_snapshot(ws, model, name)
