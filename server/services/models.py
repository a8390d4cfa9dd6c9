"""Models: create, list, delete, and load or export a whole model file.

Loading a model file is all or nothing: every dimension, cube and data row is validated in memory
first (a throwaway runtime), and only then written, in one transaction (``store.transaction``),
so a failure part-way — or a kill -9 — leaves nothing of it. The data rows become one commit with
source ``import``; a replaced model keeps its history (see ``load``).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import numpy as np

from server.access import Access
from server.context import Context
from server.errors import AlreadyExists, InvalidModel, PlancubeError
from server.limits import Limits
from server.modeldef import ModelDef, build_hierarchy
from server.services import cubes as cube_service
from server.services.cells import CellWrite, Source, commit_json, validate
from server.storage import CellChange
from server.workspace import ModelRuntime, Workspace


def summary(ws: Workspace, rt: ModelRuntime) -> dict[str, Any]:
    row = ws.store.get_model(rt.name)
    return {
        "name": rt.name,
        "description": row.description if row else "",
        "created_at": row.created_at if row else None,
        "head": rt.engine.head,
        "dimensions": list(rt.dimensions),
        "cubes": list(rt.cubes),
    }


def get_all(ctx: Context) -> list[dict[str, Any]]:
    """The models the caller has a role in (a server admin: all)."""
    out = []
    for m in ctx.ws.model_names():
        if ctx.for_model(m).role is not None:
            out.append(summary(ctx.ws, ctx.ws.runtime(m)))
    return out


def get(ctx: Context) -> dict[str, Any]:
    body = summary(ctx.ws, ctx.rt)
    masks = ctx.masks
    if masks.cubes:  # cubes closed to the caller are not there
        body["cubes"] = [c for c in body["cubes"] if masks.ceiling(c) >= Access.READ]
    return body


def create(ws: Workspace, name: str, description: str = "") -> dict[str, Any]:
    if ws.store.get_model(name) is not None:
        raise AlreadyExists(f"model {name!r} already exists", model=name)
    ws.store.create_model(name, description)
    return summary(ws, ws.add(name))


def delete(ws: Workspace, model: str) -> None:
    if not ws.is_unavailable(model):  # a model that failed to load can still be deleted
        ws.runtime(model)
    ws.store.delete_model(model)
    ws.drop(model)


def export(ctx: Context, with_data: bool = False) -> ModelDef:
    """The model file; ``with_data``: the input cells the caller may read."""
    rt = ctx.rt
    model = rt.name
    row = ctx.ws.store.get_model(model)
    masks = ctx.masks
    data: dict[str, list[list[str | float | None]]] = {}
    if with_data:
        for name in rt.cubes:
            if masks.ceiling(name) < Access.READ:
                continue
            array = rt.engine.cube(name)
            names = [np.asarray(h.names, dtype=object) for h in array.hierarchies]
            with rt.lock:
                coords, vals = rt.engine.input_cells(name)
                texts = list(array.text.items())
            if not masks.open:
                dims = rt.cube(name).dimensions
                shown = masks.cells(name, dims, coords) >= Access.READ
                coords, vals = coords[shown], vals[shown]
                keys = np.array([k for k, _ in texts], dtype=np.int64).reshape(-1, len(dims))
                seen = masks.cells(name, dims, keys) >= Access.READ
                texts = [t for t, ok in zip(texts, seen, strict=True) if ok]
            rows: list[list[str | float | None]] = [
                [*(str(names[a][c[a]]) for a in range(len(names))), float(v)]
                for c, v in zip(coords, vals, strict=True)
            ]
            rows += [[*(str(names[a][k[a]]) for a in range(len(names))), t] for k, t in texts]
            if rows:
                data[name] = rows
    return ModelDef(
        name=model,
        description=row.description if row else "",
        dimensions=list(rt.dimensions.values()),
        cubes=[c for c in rt.cubes.values() if masks.ceiling(c.name) >= Access.READ],
        data=data,
    )


def _validated(model: ModelDef, limits: Limits) -> tuple[ModelRuntime, dict[str, list[CellChange]]]:
    """Check a whole model file in a throwaway runtime; return it and the data as changes.

    Each cube is costed before its array is made (``cube_too_large``), so a model file cannot
    allocate more here than the limits allow.
    """
    rt = ModelRuntime(model.name, limits=limits)
    for dim in model.dimensions:
        if dim.name in rt.dimensions:
            raise InvalidModel(f"dimension {dim.name!r} appears twice", dimension=dim.name)
        rt.set_dimension(dim, build_hierarchy(dim))
    for cube in model.cubes:
        if cube.name in rt.cubes:
            raise InvalidModel(f"cube {cube.name!r} appears twice", cube=cube.name)
        try:
            cube_service.check(cube, set(rt.dimensions))
        except PlancubeError as exc:
            raise InvalidModel(exc.message, **exc.details) from None
        rt.add_cube(cube)
    rt.engine.set_rules(rt.rule_defs())  # a bad rule is 422 invalid_rule, naming the position
    changes: dict[str, list[CellChange]] = {}
    for cube_name, rows in model.data.items():
        rt.cube(cube_name)
        n = len(rt.cubes[cube_name].dimensions)
        cells = []
        for i, row in enumerate(rows):
            if len(row) != n + 1 or not all(isinstance(e, str) for e in row[:n]):
                raise InvalidModel(
                    f"data of cube {cube_name!r}, row {i}: expected {n} element names and a value",
                    cube=cube_name,
                    row=i,
                )
            # typed by ModelDef already; validate() below checks each value, naming the row
            cells.append(
                CellWrite.model_construct(elements=[str(e) for e in row[:n]], value=row[n])
            )
        if not cells:
            continue
        try:
            changes[cube_name] = validate(rt, cube_name, cells)  # no batch cap: a whole model
        except PlancubeError as exc:
            raise InvalidModel(
                f"data of cube {cube_name!r}: {exc.message}", cube=cube_name, **exc.details
            ) from None
    return rt, changes


def load(ws: Workspace, model: ModelDef, author: str, replace: bool = False) -> dict[str, Any]:
    """Store a model file in one transaction, then build its runtime from storage.

    A failure anywhere — a storage error, a kill -9 — leaves the database as it was: with
    ``replace`` the old model too. Replacing keeps the old model's commits, history and
    snapshots: its structure gives way to the new one, and one new commit (source ``import``)
    sets every cell to the file's data, clearing the cells the file does not have, so the
    history reads on across the replacement and as-of reads before it show the old numbers.
    """
    _, changes = _validated(model, ws.limits)
    batch = [c for cs in changes.values() for c in cs]
    exists = ws.store.get_model(model.name) is not None
    if exists and not replace:
        raise AlreadyExists(
            f"model {model.name!r} already exists (load with replace to overwrite it)",
            model=model.name,
        )
    old = None if ws.is_unavailable(model.name) or not exists else ws.runtime(model.name)
    with old.write_lock if old else nullcontext(), ws.store.transaction(model.name):
        if exists:
            batch = _cleared(ws, model.name, batch) + batch
            ws.store.replace_model(model.name, model.description)
        else:
            ws.store.create_model(model.name, model.description)
        for dim in model.dimensions:
            ws.store.save_dimension(model.name, dim)
        for cube in model.cubes:
            ws.store.save_cube(model.name, cube)
        result = ws.store.commit(
            model.name,
            batch,
            author=author,
            message=f"{'replace' if exists else 'load'} model {model.name}",
            source=Source.import_.value,
        )
    ws.drop(model.name)
    rt = ws.add(model.name)
    if exists and result.commit is not None:
        ws.feed.publish(rt.name, {"commit": commit_json(result.commit), "cubes": list(rt.cubes)})
    return summary(ws, rt)


def _cleared(ws: Workspace, model: str, batch: list[CellChange]) -> list[CellChange]:
    """A clearing change for every stored cell of ``model`` that ``batch`` does not set."""
    kept = {(c.cube, c.addr) for c in batch}
    _, cubes = ws.store.load_structure(model)
    out = []
    for cube in cubes:
        table = ws.store.load_cells(model, cube.name)
        num = table.column("num").to_pylist()
        txt = table.column("txt").to_pylist()
        for i, addr in enumerate(table.column("addr").to_pylist()):
            if (num[i] is not None or txt[i] is not None) and (cube.name, addr) not in kept:
                out.append(CellChange(cube.name, addr))
    return out
