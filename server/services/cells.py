"""Cell writes and cell history.

A write batch is validated whole before anything is stored: every address must name existing
leaf elements, every value must fit its cell (a number for numeric cells, text for text cells,
null to clear), and no address may appear twice. Then the batch becomes one commit. With a
``base_commit`` the write is optimistic: if any target cell changed after that commit, the answer
is 409 with those cells and nothing is written; changes to other cells do not get in the way. The
writer's own commits are not conflicts when it names its session (``X-Plancube-Session``): a
grid's second edit of a cell may leave before the first one's commit has reached it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, Field

from calc_engine import MAX_INPUT, NotALeafError
from server.access import Access, AccessMasks
from server.context import Context
from server.directory import OPEN
from server.errors import (
    BaseCommitAhead,
    ElementNotFound,
    InvalidValue,
    NotWritable,
    StorageFull,
    StorageUnavailable,
    WriteConflict,
    WriteForbidden,
)
from server.group_commit import Pending
from server.names import Reference
from server.services import write_columns
from server.storage import (
    CellBatch,
    CellChange,
    CommitInfo,
    CommitRequest,
    CommitResult,
    HistoryRow,
    StoreBaseAhead,
    StoreConflict,
    address,
    elements_of,
)
from server.wire import TEXT_LIMIT, CommitId, Message, Number, Text
from server.workspace import ModelRuntime, Workspace

MAX_BATCH = 1_000_000  # cells in one write request


class Source(StrEnum):
    web = "web"
    excel = "excel"
    api = "api"
    import_ = "import"
    forecast = "forecast"
    spread = "spread"
    revert = "revert"


class CellWrite(BaseModel):
    elements: list[Reference] | dict[Reference, Reference] = Field(
        description="the leaf cell: element names (or aliases) in cube dimension order, "
        "or an object {dimension: element}"
    )
    value: Annotated[Number | Text | None, TEXT_LIMIT] = Field(
        description=f"a number (at most {MAX_INPUT:.0e} in magnitude), text for text cells "
        "(at most 32,767 characters), null to clear"
    )


class WriteBatch(BaseModel):
    cells: list[CellWrite] = Field(min_length=1, max_length=MAX_BATCH)
    base_commit: CommitId | None = Field(
        default=None,
        ge=0,
        description="the commit the client last saw; cells changed since then by another "
        "session (X-Plancube-Session) make the write fail with 409 (omit for a "
        "last-writer-wins write); one after the model's head is refused with 422 "
        "`base_commit_ahead`",
    )
    message: Message = ""
    source: Source = Source.api


def commit_json(c: CommitInfo) -> dict[str, Any]:
    return {
        "id": c.id,
        "author": c.author,
        "time": c.created_at,
        "message": c.message,
        "source": c.source,
        "cells": c.cells,
        "reverts": c.reverts,
    }


def _names(
    rt: ModelRuntime,
    cube: str,
    index: int,
    elements: list[str] | dict[str, str],
    masks: AccessMasks = OPEN,
) -> list[str]:
    dims = rt.cube(cube).dimensions
    if isinstance(elements, dict):
        missing = [d for d in dims if d not in elements]
        extra = [d for d in elements if d not in dims]
        if missing or extra:
            raise InvalidValue(
                f"cell {index}: give one element for each of {dims} "
                f"(missing {missing}, unknown {extra})",
                cell=index,
                missing=missing,
                unknown=extra,
            )
        elements = [elements[d] for d in dims]
    if len(elements) != len(dims):
        raise InvalidValue(
            f"cell {index}: cube {cube!r} has {len(dims)} dimensions {dims}, "
            f"got {len(elements)} elements",
            cell=index,
            elements=elements,
        )
    out = []
    for d, name in zip(dims, elements, strict=True):
        h = rt.hierarchy(d)
        try:
            pos = rt.position(d, name)
            hidden = masks.dimensions.get(d)
            if hidden is not None and hidden[pos] < Access.READ:  # as if it did not exist
                raise ElementNotFound(
                    f"dimension {d!r} has no element {name!r}", dimension=d, element=name
                )
        except ElementNotFound as exc:
            raise ElementNotFound(
                f"cell {index}: {exc.message}", cell=index, **exc.details
            ) from None
        if not h.is_leaf[pos]:
            raise NotWritable(
                f"cell {index}: {NotALeafError(d, h.names[pos])!s}",
                cell=index,
                dimension=d,
                element=h.names[pos],
            )
        out.append(h.names[pos])
    return out


def validate(
    rt: ModelRuntime, cube: str, cells: Sequence[CellWrite], masks: AccessMasks = OPEN
) -> list[CellChange]:
    """The cells as storage changes, or the first problem, naming the cell. ``masks``: the
    writer's element security (an element they may not see is not found; cells they may only
    read are refused together, 403 ``write_forbidden``)."""
    mask = rt.text_mask(cube)
    dims = rt.cube(cube).dimensions
    seen: dict[str, int] = {}
    changes = []
    for i, cell in enumerate(cells):
        names = _names(rt, cube, i, cell.elements, masks)
        addr = address(names)
        if addr in seen:
            raise InvalidValue(
                f"cell {i} writes {names} again (first written by cell {seen[addr]})",
                cell=i,
                elements=names,
            )
        seen[addr] = i
        is_text = bool(mask and mask[1][rt.position(dims[mask[0]], names[mask[0]])])
        value = cell.value
        if value is None:
            changes.append(CellChange(cube, addr))
        elif is_text:
            if not isinstance(value, str):
                raise InvalidValue(
                    f"cell {i} {names} holds text; got the number {value!r}",
                    cell=i,
                    elements=names,
                    value=value,
                )
            changes.append(CellChange(cube, addr, txt=value))
        else:
            if isinstance(value, str) or not math.isfinite(value):
                raise InvalidValue(
                    f"cell {i} {names} is numeric; {value!r} is not a number",
                    cell=i,
                    elements=names,
                    value=value,
                )
            if abs(value) > MAX_INPUT:
                raise InvalidValue(
                    f"cell {i} {names}: {value:g} is larger than a cell may hold "
                    f"(at most {MAX_INPUT:g} in magnitude)",
                    cell=i,
                    elements=names,
                    value=value,
                    limit=MAX_INPUT,
                )
            changes.append(CellChange(cube, addr, num=float(value)))
    if not masks.open:
        refuse_read_only(rt, cube, changes, masks)
    _refuse_rule_cells(rt, cube, changes)
    return changes


def coords_of(rt: ModelRuntime, cube: str, changes: Sequence[CellChange]) -> np.ndarray:
    hierarchies = rt.engine.cube(cube).hierarchies
    return np.array(
        [
            [h.index[n] for h, n in zip(hierarchies, elements_of(c.addr), strict=True)]
            for c in changes
        ],
        dtype=np.int64,
    ).reshape(-1, len(hierarchies))


MAX_NAMED = 20  # cells an error lists


def refuse_read_only(
    rt: ModelRuntime, cube: str, changes: Sequence[CellChange], masks: AccessMasks
) -> None:
    """Refuse the whole batch (403 ``write_forbidden``) if any cell is not writable for the
    caller, naming the first ``MAX_NAMED`` of them."""
    refuse_read_only_at(rt, cube, coords_of(rt, cube, changes), masks)


def refuse_read_only_at(
    rt: ModelRuntime, cube: str, coords: np.ndarray, masks: AccessMasks
) -> None:
    """``refuse_read_only`` for cells given by their engine positions."""
    allowed = masks.cells(cube, rt.cube(cube).dimensions, coords)
    bad = np.flatnonzero(allowed < Access.WRITE)
    if len(bad):
        # cells the caller may see are named; hidden ones (a spread's leaves) only counted
        seen = [i for i in bad if allowed[i] >= Access.READ]
        hs = rt.engine.cube(cube).hierarchies
        named = [
            [h.names[int(p)] for h, p in zip(hs, coords[int(i)], strict=True)]
            for i in seen[:MAX_NAMED]
        ]
        example = f", e.g. {named[0]}" if named else ""
        raise WriteForbidden(
            f"{len(bad)} cell(s) are not yours to change{example}; nothing was written",
            cube=cube,
            count=len(bad),
            hidden=int(len(bad) - len(seen)),
            cells=named,
        )


def _refuse_rule_cells(rt: ModelRuntime, cube: str, changes: list[CellChange]) -> None:
    """Cells a rule computes are not inputs: name the first one and its rule."""
    rules = rt.engine.rules
    if not any(r.cube == cube for r in rules.compiled):
        return
    coords = coords_of(rt, cube, changes)
    hits = np.flatnonzero(rules.rule_cells(cube, coords))
    if len(hits):
        i = int(hits[0])
        rule = rules.rule_at(cube, tuple(int(x) for x in coords[i]))
        raise NotWritable(
            f"cell {i} {elements_of(changes[i].addr)} is computed by rule "
            f"{rule.rule.name if rule else '?'!r}; it cannot be written",
            cell=i,
            elements=elements_of(changes[i].addr),
            rule=rule.rule.name if rule else None,
        )


@dataclass(frozen=True, slots=True)
class _Write:
    # the changes, worked out under the write lock (a batch of columns for many cells)
    prepare: Callable[[], list[CellChange] | CellBatch]
    author: str
    message: str
    source: str
    base: int | None
    session: str | None
    reverts: int | None


def commit_changes(
    ws: Workspace,
    rt: ModelRuntime,
    changes: list[CellChange] | CellBatch,
    *,
    author: str,
    message: str,
    source: str,
    base: int | None,
    session: str | None,
    reverts: int | None = None,
) -> CommitResult:
    """Commit durably, apply to the engine, announce to the feed: the write path, in order."""
    return submit(
        ws,
        rt,
        lambda: changes,
        size=len(changes),
        author=author,
        message=message,
        source=source,
        base=base,
        session=session,
        reverts=reverts,
    )


def submit(
    ws: Workspace,
    rt: ModelRuntime,
    prepare: Callable[[], list[CellChange] | CellBatch],
    *,
    size: int,
    author: str,
    message: str,
    source: str,
    base: int | None,
    session: str | None,
    reverts: int | None = None,
) -> CommitResult:
    """Commit what ``prepare`` gives (run under the model's write lock, so no structure or rule
    change slips in between) in the next group commit (``server.group_commit``)."""
    item = Pending(_Write(prepare, author, message, source, base, session, reverts), size)
    if rt.write_lock._is_owned():  # type: ignore[attr-defined]
        # the caller worked out its changes under the lock (a spread): queueing would wait
        # for a leader that waits for this lock
        _commit_group(ws, rt, [item])
        if item.error is not None:
            raise item.error
        result: CommitResult = item.result
        return result
    answer: CommitResult = rt.commits.submit(item, lambda group: _commit_group(ws, rt, group))
    return answer


def _commit_group(ws: Workspace, rt: ModelRuntime, group: Sequence[Pending]) -> None:
    """Commit a group durably, apply it to the engine, announce it, answer each writer."""
    with rt.write_lock:
        ws.sync(rt)
        ready: list[tuple[Pending, CommitRequest]] = []
        for item in group:
            w: _Write = item.request
            try:
                changes = w.prepare()
            except Exception as exc:  # an invalid batch: that writer's answer alone
                item.finish(error=exc)
                continue
            ready.append(
                (
                    item,
                    CommitRequest(
                        changes, w.author, w.message, w.source, w.base, w.session, w.reverts
                    ),
                )
            )
        if not ready:
            return
        requests = [r for _, r in ready]
        outcomes: list[Any]
        try:
            outcomes = list(ws.store.commit_many(rt.name, requests))
        except (StorageUnavailable, StorageFull):
            raise  # the database, not a batch: every writer of the group hears of it
        except Exception:
            if len(requests) == 1:
                raise
            # what the database refused may be one writer's batch: commit each alone
            outcomes = []
            for r in requests:
                try:
                    outcomes.extend(ws.store.commit_many(rt.name, [r]))
                except Exception as exc:
                    outcomes.append(exc)
        done = [o for o in outcomes if isinstance(o, CommitResult)]
        if any(o.previous_head is not None and o.previous_head > rt.engine.head for o in done):
            # another process committed between our catch-up and our commit: replay the log
            # (ours included) in commit order
            pending = ws.store.changes_since(rt.name, rt.engine.head)
            rt.apply([c for _, c in pending], max(o.head for o in done))
        elif any(o.commit is not None for o in done):
            head = max(o.head for o in done)
            rt.apply([c for o in done if isinstance(o.changes, list) for c in o.changes], head)
            for o in done:
                if isinstance(o.changes, CellBatch) and len(o.changes):
                    rt.apply_batch(o.changes, head)
        for o in done:
            if o.commit is not None:  # only announced: the feed is sent off the write path
                cubes = sorted(rt.engine.rules.readers(_cubes(o.changes)))
                ws.feed.publish(rt.name, {"commit": commit_json(o.commit), "cubes": cubes})
    for (item, r), outcome in zip(ready, outcomes, strict=True):
        if isinstance(outcome, CommitResult):
            item.finish(outcome)
        else:
            item.finish(error=_refusal(rt, r, outcome))


def _cubes(changes: list[CellChange] | CellBatch) -> set[str]:
    if isinstance(changes, CellBatch):
        return {changes.cube}
    return {c.cube for c in changes}


def _refusal(rt: ModelRuntime, r: CommitRequest, exc: BaseException) -> BaseException:
    """The API's error for what the store refused."""
    if isinstance(exc, StoreBaseAhead):
        return BaseCommitAhead(
            f"base_commit {exc.base} is after the head of model {rt.name!r}: its head is "
            f"commit {exc.head}; send the commit you last read (a view's `commit`, a "
            "write's `head`); nothing was written",
            model=rt.name,
            base_commit=exc.base,
            head=exc.head,
        )
    if isinstance(exc, StoreConflict):
        return WriteConflict(
            f"{len(exc.cells)} cell(s) changed since commit {r.base}; nothing was written",
            base_commit=r.base,
            cells=[
                {
                    "cube": c.cube,
                    "elements": elements_of(c.addr),
                    "value": c.txt if c.num is None else c.num,
                    "commit": c.commit_id,
                    "author": c.author,
                    "time": c.created_at,
                }
                for c in exc.cells
            ],
        )
    return exc


def write(ctx: Context, cube: str, batch: WriteBatch) -> dict[str, Any]:
    rt = ctx.rt
    masks = ctx.masks
    result = submit(
        ctx.ws,
        rt,
        lambda: _checked(rt, cube, batch.cells, masks),
        size=len(batch.cells),
        author=ctx.author,
        message=batch.message,
        source=batch.source.value,
        base=batch.base_commit,
        session=ctx.session,
    )
    return result_json(result)


def _checked(
    rt: ModelRuntime, cube: str, cells: Sequence[CellWrite], masks: AccessMasks
) -> list[CellChange] | CellBatch:
    """A big write as columns when that is sure to agree, else cell by cell (which names the
    first problem): ``server.services.write_columns``."""
    if len(cells) >= write_columns.MIN_CELLS:
        batch = write_columns.validate(rt, cube, cells, masks)
        if batch is not None:
            return batch
    return validate(rt, cube, cells, masks)


def result_json(result: CommitResult) -> dict[str, Any]:
    """What a write answers: the commit (null when nothing changed), the head, cells changed."""
    return {
        "commit": result.commit and commit_json(result.commit),
        "head": result.head,
        "changed": len(result.changes),
    }


def history_json(rows: list[HistoryRow]) -> list[dict[str, Any]]:
    return [
        {
            "commit": commit_json(r.commit),
            "cube": r.cube,
            "elements": elements_of(r.addr),
            "old": r.old_txt if r.old_num is None else r.old_num,
            "new": r.new_txt if r.new_num is None else r.new_num,
        }
        for r in rows
    ]


def history(ctx: Context, cube: str, elements: list[str]) -> list[dict[str, Any]]:
    rt = ctx.rt
    names = _names(rt, cube, 0, elements, ctx.masks)
    return history_json(ctx.ws.store.cell_history(rt.name, cube, address(names)))
