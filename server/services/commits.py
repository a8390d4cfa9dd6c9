"""Commits and snapshots: the model's history, named points in it, and reverts.

A revert is a new commit that puts back the old value of every cell the reverted commit changed.
If any of those cells changed again after it, the revert would silently undo someone's later
work, so it answers 409 with those cells instead, unless asked to ``force``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from server.errors import AlreadyExists, BadRequest, CommitNotFound, SnapshotNotFound
from server.limits import DEFAULT_CHANGES_PAGE
from server.names import PathName
from server.services.cells import Source, commit_changes, commit_json, history_json, result_json
from server.storage import CellChange, CommitInfo, StoreSnapshotExists
from server.wire import CommitId, Description, Flag, Message
from server.workspace import Workspace


class SnapshotCreate(BaseModel):
    name: PathName
    commit: CommitId | None = Field(default=None, description="default: the model's head commit")
    description: Description = ""


class RevertRequest(BaseModel):
    message: Message = ""
    force: Flag = Field(default=False, description="revert even cells changed after the commit")


def get_all(ws: Workspace, model: str, limit: int, before: int | None) -> list[dict[str, Any]]:
    ws.runtime(model)
    return [commit_json(c) for c in ws.store.list_commits(model, limit, before)]


def _commit(ws: Workspace, model: str, commit_id: int) -> CommitInfo:
    info = ws.store.get_commit(model, commit_id)
    if info is None:
        raise CommitNotFound(
            f"model {model!r} has no commit {commit_id}", model=model, commit=commit_id
        )
    return info


def get(
    ws: Workspace,
    model: str,
    commit_id: int,
    limit: int = DEFAULT_CHANGES_PAGE,
    offset: int = 0,
) -> dict[str, Any]:
    """The commit and one page of its changes: a commit may hold a million cells (72 MB)."""
    ws.runtime(model)
    info = _commit(ws, model, commit_id)
    changes = history_json(ws.store.commit_changes(model, commit_id, limit, offset))
    for c in changes:
        c.pop("commit")
    after = offset + len(changes)
    url = f"/api/models/{quote(model, safe='')}/commits/{commit_id}"
    return {
        **commit_json(info),
        "changes": changes,
        "offset": offset,
        "total": info.cells,
        "next": f"{url}?offset={after}&limit={limit}" if after < info.cells else None,
    }


def revert(
    ws: Workspace, model: str, commit_id: int, req: RevertRequest, author: str
) -> dict[str, Any]:
    rt = ws.runtime(model)
    _commit(ws, model, commit_id)
    rows = ws.store.commit_changes(model, commit_id)
    changes = [CellChange(r.cube, r.addr, r.old_num, r.old_txt) for r in rows]
    result = commit_changes(
        ws,
        rt,
        changes,
        author=author,
        message=req.message or f"Revert commit {commit_id}",
        source=Source.revert.value,
        base=None if req.force else commit_id,
        session=None,
        reverts=commit_id,
    )
    return result_json(result)


def _snapshot_json(s: Any) -> dict[str, Any]:
    return {
        "name": s.name,
        "commit": s.commit_id,
        "author": s.author,
        "time": s.created_at,
        "description": s.description,
    }


def create_snapshot(ws: Workspace, model: str, req: SnapshotCreate, author: str) -> dict[str, Any]:
    rt = ws.runtime(model)
    if ws.store.get_snapshot(model, req.name) is not None:
        raise AlreadyExists(
            f"model {model!r} already has a snapshot {req.name!r}", model=model, snapshot=req.name
        )
    commit_id = rt.engine.head if req.commit is None else req.commit
    if commit_id and ws.store.get_commit(model, commit_id) is None:
        raise CommitNotFound(
            f"model {model!r} has no commit {commit_id}", model=model, commit=commit_id
        )
    if commit_id < 0:
        raise BadRequest("commit ids are positive", commit=commit_id)
    try:
        snap = ws.store.create_snapshot(model, req.name, commit_id, author, req.description)
    except StoreSnapshotExists:  # another request made it since the check above
        raise AlreadyExists(
            f"model {model!r} already has a snapshot {req.name!r}", model=model, snapshot=req.name
        ) from None
    return _snapshot_json(snap)


def get_all_snapshots(ws: Workspace, model: str) -> list[dict[str, Any]]:
    ws.runtime(model)
    return [_snapshot_json(s) for s in ws.store.list_snapshots(model)]


def get_snapshot(ws: Workspace, model: str, name: str) -> dict[str, Any]:
    ws.runtime(model)
    snap = ws.store.get_snapshot(model, name)
    if snap is None:
        raise SnapshotNotFound(
            f"model {model!r} has no snapshot {name!r}", model=model, snapshot=name
        )
    return _snapshot_json(snap)
