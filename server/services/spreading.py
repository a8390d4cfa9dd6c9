"""Spreading and holds: type a value into a consolidated cell; held cells stay put.

A spread becomes one commit (source ``spread``) of the leaf cells it changes, with the same
optimistic check as any write: with ``base_commit``, a leaf another session changed since makes
it a 409 and nothing is written. Holds belong to the acting user and are stored, so they survive
a restart; rule cells under the spread cell are frozen like held ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from calc_engine import MAX_INPUT
from calc_engine.spread import Method, SpreadError, spread
from server.addressing import encode
from server.context import Context
from server.errors import InvalidValue, NotWritable
from server.names import Reference
from server.services.cells import Source, commit_changes, refuse_read_only_at, result_json
from server.storage import CellBatch, address, elements_of
from server.wire import CommitId, Message, Number
from server.workspace import ModelRuntime


class SpreadRequest(BaseModel):
    elements: list[Reference] = Field(description="the cell (leaf or consolidated), in cube order")
    value: Number = Field(
        ge=-MAX_INPUT,
        le=MAX_INPUT,
        description="the new value of the cell (percent for method percent)",
    )
    method: Method = Method.proportional
    base_commit: CommitId | None = Field(
        default=None,
        description="the commit the client last saw: leaves changed by someone else since "
        "make it a 409; one after the model's head is refused with 422 `base_commit_ahead`",
    )
    message: Message = ""


class HoldRequest(BaseModel):
    elements: list[Reference] = Field(description="the cell to hold (leaf or consolidated)")


def _names(rt: ModelRuntime, cube: str, coord: tuple[int, ...]) -> list[str]:
    hs = rt.engine.cube(cube).hierarchies
    return [h.names[p] for h, p in zip(hs, coord, strict=True)]


def holds(ctx: Context, cube: str, fresh: bool = True) -> list[tuple[int, ...]]:
    """The caller's holds on a cube that still name existing elements.

    ``fresh`` reads the store (spreading must honour a hold set through another process); views
    pass False and use what this process last read or set, saving a query per view.
    """
    rt, author = ctx.rt, ctx.author
    out = []
    hs = rt.engine.cube(cube).hierarchies
    stored = None if fresh else rt.holds.get((cube, author))
    if stored is None:
        stored = rt.holds[(cube, author)] = ctx.ws.store.list_holds(rt.name, cube, author)
    for addr in stored:
        names = elements_of(addr)
        if len(names) == len(hs) and all(n in h.index for h, n in zip(hs, names, strict=True)):
            out.append(tuple(h.index[n] for h, n in zip(hs, names, strict=True)))
    return out


def list_holds(ctx: Context, cube: str) -> list[dict[str, Any]]:
    rt = ctx.rt
    rt.cube(cube)
    return [{"elements": _names(rt, cube, c)} for c in holds(ctx, cube)]


def set_hold(ctx: Context, cube: str, elements: list[str], held: bool) -> None:
    rt = ctx.rt
    coord = ctx.coord(cube, elements)
    ctx.ws.store.set_hold(rt.name, cube, ctx.author, address(_names(rt, cube, coord)), held)
    rt.holds.pop((cube, ctx.author), None)


def run(ctx: Context, cube: str, req: SpreadRequest) -> dict[str, Any]:
    """Spread; refused whole (403 ``write_forbidden``) if a leaf it would change is not the
    caller's to change — never a partial spread that leaves a total off its target."""
    ws, rt = ctx.ws, ctx.rt
    coord = ctx.coord(cube, req.elements)
    mask = rt.text_mask(cube)
    if mask and mask[1][coord[mask[0]]]:
        raise NotWritable(
            f"{req.elements} is a text cell; only numbers spread", elements=req.elements
        )
    user_holds = holds(ctx, cube)
    masks = ctx.masks
    # computed and committed under the write lock; without a base_commit from the client, the
    # values computed here are the base, so a write from another process in between is a 409
    with rt.write_lock:
        ws.sync(rt)
        base = rt.engine.head if req.base_commit is None else req.base_commit
        changes = _changes(rt, cube, coord, req, user_holds)
        if not masks.open:
            assert changes.coords is not None
            refuse_read_only_at(rt, cube, changes.coords, masks)
        result = commit_changes(
            ws,
            rt,
            changes,
            author=ctx.author,
            message=req.message
            or f"spread {req.value:g} ({req.method}) to {', '.join(req.elements)}",
            source=Source.spread.value,
            base=base,
            session=ctx.session,
        )
    return {**result_json(result), "leaves": len(changes)}


def _changes(
    rt: ModelRuntime,
    cube: str,
    coord: tuple[int, ...],
    req: SpreadRequest,
    user_holds: list[tuple[int, ...]],
) -> CellBatch:
    """The leaf cells a spread writes, as columns: the store commits them with set-based SQL
    and the engine applies them at these coordinates (a 422 if nothing can move or the values
    overflow). A leaf spread to 0 is cleared."""
    with rt.lock:
        rule = rt.engine.rules.rule_at(cube, coord)
        if rule is not None:
            raise NotWritable(
                f"cannot spread to {req.elements}: the cell is computed by rule {rule.rule.name!r}",
                elements=req.elements,
            )
        try:
            coords, values = spread(
                rt.engine.cube(cube),
                coord,
                req.value,
                req.method,
                user_holds,
                fixed=lambda xy: rt.engine.rules.rule_cells(cube, xy),
            )
        except SpreadError as exc:
            raise NotWritable(
                f"cannot spread to {req.elements}: {exc}", elements=req.elements
            ) from None
    hs = rt.engine.cube(cube).hierarchies
    beyond = np.flatnonzero(~(np.abs(values) <= MAX_INPUT))  # NaN is beyond too
    if len(beyond):
        i = int(beyond[0])
        leaf = [h.names[int(coords[i, a])] for a, h in enumerate(hs)]
        raise InvalidValue(
            f"spreading {req.value:g} ({req.method}) to {req.elements} would put "
            f"{values[i]:g} into {leaf}, larger than a cell may hold "
            f"(at most {MAX_INPUT:g} in magnitude)",
            value=req.value,
            elements=leaf,
            limit=MAX_INPUT,
        )
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, len(hs))
    num = np.where(values == 0, np.nan, values).astype(np.float64)
    return CellBatch.of(cube, encode(hs, coords), num, None, coords)
