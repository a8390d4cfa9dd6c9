"""Cubes: ordered lists of dimensions that hold leaf cells."""

from __future__ import annotations

from typing import Any

from server.access import Access
from server.context import Context
from server.errors import AlreadyExists, BadRequest, InUse
from server.modeldef import CubeDef
from server.workspace import ModelRuntime


def summary(rt: ModelRuntime, cube: CubeDef) -> dict[str, Any]:
    array = rt.engine.cube(cube.name)
    with rt.lock:
        coords, _ = rt.engine.input_cells(cube.name)
        populated = len(coords) + len(array.text)
    return {
        "name": cube.name,
        "dimensions": cube.dimensions,
        "description": cube.description,
        "leaf_cells": array.leaf_count,
        "populated_cells": populated,
    }


def get_all(ctx: Context) -> list[dict[str, Any]]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    masks = ctx.masks
    return [summary(rt, c) for c in rt.cubes.values() if masks.ceiling(c.name) >= Access.READ]


def get(ctx: Context, name: str) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    return summary(rt, rt.cube(name))


def check(cube: CubeDef, dimensions: set[str]) -> None:
    if len(set(cube.dimensions)) != len(cube.dimensions):
        raise BadRequest(
            f"cube {cube.name!r} lists a dimension twice: {cube.dimensions}", cube=cube.name
        )
    missing = [d for d in cube.dimensions if d not in dimensions]
    if missing:
        raise BadRequest(
            f"cube {cube.name!r} uses dimension(s) {missing}, which the model does not have",
            cube=cube.name,
            dimensions=missing,
        )


def create(ctx: Context, cube: CubeDef) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    if cube.name in rt.cubes:
        raise AlreadyExists(
            f"model {model!r} already has a cube {cube.name!r}", model=model, cube=cube.name
        )
    check(cube, set(rt.dimensions))
    rt.check_cube(cube)  # before it is stored: a cube too large to allocate must not brick start-up
    with rt.write_lock:
        ws.store.save_cube(model, cube)
        rt.add_cube(cube)
    return summary(rt, cube)


def delete(ctx: Context, name: str) -> None:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    rt.cube(name)
    readers = [
        f"{r.cube}.{r.rule.name}"
        for r in rt.engine.rules.compiled
        if r.cube != name and any(d.cube == name for d in r.dependencies)
    ]
    if readers:
        raise InUse(
            f"cube {name!r} is read by rule(s) {readers}; change them first",
            cube=name,
            rules=readers,
        )
    with rt.write_lock:
        ws.store.delete_cube(model, name)
        with rt.lock:
            rt.cubes.pop(name, None)
            rt.engine.remove_cube(name)
            rt.structure_version += 1
