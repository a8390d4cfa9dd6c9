"""Commits and snapshots: the model's history, named points in it, and reverts.

A revert is a new commit that puts back the old value of every cell the reverted commit changed.
If any of those cells changed again after it, the revert would silently undo someone's later
work, so it answers 409 with those cells instead, unless asked to ``force``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, Field

from server.access import Access
from server.addressing import decode
from server.context import Context
from server.errors import (
    AlreadyExists,
    BadRequest,
    CommitNotFound,
    SnapshotNotFound,
    WriteForbidden,
)
from server.limits import DEFAULT_CHANGES_PAGE
from server.names import PathName
from server.services.cells import (
    Source,
    commit_changes,
    commit_json,
    history_json,
    refuse_read_only,
    result_json,
)
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


def get_all(ctx: Context, limit: int, before: int | None) -> list[dict[str, Any]]:
    rt = ctx.rt
    return [commit_json(c) for c in ctx.ws.store.list_commits(rt.name, limit, before)]


def _commit(ws: Workspace, model: str, commit_id: int) -> CommitInfo:
    info = ws.store.get_commit(model, commit_id)
    if info is None:
        raise CommitNotFound(
            f"model {model!r} has no commit {commit_id}", model=model, commit=commit_id
        )
    return info


def readable(ctx: Context, cells: Sequence[tuple[str, str]]) -> np.ndarray:
    """Which stored cells (cube, address) the caller may read. A cell whose element in a
    secured dimension no longer exists counts as hidden: nobody can say who may see it."""
    masks = ctx.masks
    out = np.ones(len(cells), dtype=bool)
    if masks.open or not cells:
        return out
    rt = ctx.rt
    by_cube: dict[str, list[int]] = {}
    for i, (cube, _) in enumerate(cells):
        by_cube.setdefault(cube, []).append(i)
    for cube, rows in by_cube.items():
        if cube not in rt.cubes:
            out[rows] = False
            continue
        dims = rt.cube(cube).dimensions
        coords = decode(rt.engine.cube(cube).hierarchies, pa.array([cells[i][1] for i in rows]))
        gone = coords[:, 0] < 0
        access = masks.cells(cube, dims, np.where(gone[:, None], 0, coords))
        secured = any(d in masks.dimensions for d in dims)
        out[rows] = (access >= Access.READ) & ~(gone & secured)
    return out


def get(
    ctx: Context, commit_id: int, limit: int = DEFAULT_CHANGES_PAGE, offset: int = 0
) -> dict[str, Any]:
    """The commit and one page of its changes: a commit may hold a million cells (72 MB).

    Changes to cells the caller may not see are left out of the page; ``hidden`` counts them
    (``offset`` and ``next`` still page over all of the commit's changes)."""
    ws, model = ctx.ws, ctx.rt.name
    info = _commit(ws, model, commit_id)
    rows = ws.store.commit_changes(model, commit_id, limit, offset)
    shown = readable(ctx, [(r.cube, r.addr) for r in rows])
    changes = history_json([r for r, ok in zip(rows, shown, strict=True) if ok])
    for c in changes:
        c.pop("commit")
    after = offset + len(rows)
    url = f"/api/models/{quote(model, safe='')}/commits/{commit_id}"
    return {
        **commit_json(info),
        "changes": changes,
        "hidden": int(len(rows) - len(changes)),
        "offset": offset,
        "total": info.cells,
        "next": f"{url}?offset={after}&limit={limit}" if after < info.cells else None,
    }


def revert(ctx: Context, commit_id: int, req: RevertRequest) -> dict[str, Any]:
    """Revert a commit: refused whole (403 ``write_forbidden``) if the caller may not change
    every cell it changed."""
    ws, rt = ctx.ws, ctx.rt
    _commit(ws, rt.name, commit_id)
    rows = ws.store.commit_changes(rt.name, commit_id)
    changes = [CellChange(r.cube, r.addr, r.old_num, r.old_txt) for r in rows]
    masks = ctx.masks
    if not masks.open:
        shown = readable(ctx, [(c.cube, c.addr) for c in changes])
        if not shown.all():
            hidden = int((~shown).sum())
            raise WriteForbidden(
                f"commit {commit_id} changed {hidden} cell(s) that are not yours to change; "
                "nothing was written",
                commit=commit_id,
                count=hidden,
                hidden=hidden,
                cells=[],
            )
        for cube in sorted({c.cube for c in changes}):
            refuse_read_only(rt, cube, [c for c in changes if c.cube == cube], masks)
    result = commit_changes(
        ws,
        rt,
        changes,
        author=ctx.author,
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


def create_snapshot(ctx: Context, req: SnapshotCreate) -> dict[str, Any]:
    ws, rt, author = ctx.ws, ctx.rt, ctx.author
    model = rt.name
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


def get_all_snapshots(ctx: Context) -> list[dict[str, Any]]:
    ws, model = ctx.ws, ctx.rt.name
    return [_snapshot_json(s) for s in ws.store.list_snapshots(model)]


def get_snapshot(ctx: Context, name: str) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.rt.name
    snap = ws.store.get_snapshot(model, name)
    if snap is None:
        raise SnapshotNotFound(
            f"model {model!r} has no snapshot {name!r}", model=model, snapshot=name
        )
    return _snapshot_json(snap)
