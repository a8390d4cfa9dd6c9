"""Dimensions and their elements: create, replace, bulk upsert, delete.

Every change is validated as a whole new dimension (names unique, children exist, no cycles,
attributes typed, aliases unambiguous) before storage is touched. A change that would hide stored
cells — deleting a leaf that holds data, or giving it children — is refused with 409 naming the
elements, because the cells would silently drop out of every total.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, Field

from calc_engine import Engine, Hierarchy
from server.context import Context
from server.errors import AlreadyExists, ElementNotFound, InUse
from server.modeldef import ChildRef, DimensionDef, ElementDef, ElementType, Name, build_hierarchy
from server.names import Reference
from server.wire import TEXT_LIMIT, Number, Text
from server.workspace import ModelRuntime, Workspace, element_attributes


class ElementUpsert(BaseModel):
    name: Name
    type: ElementType | None = Field(default=None, description="default: keep (new: numeric)")
    attributes: dict[Reference, Annotated[Text | Number | None, TEXT_LIMIT]] = Field(
        default={}, description="merged into the element's attributes; null removes one"
    )
    children: list[ChildRef] | None = Field(
        default=None, description="replaces the element's children; omit to keep them"
    )
    parents: list[ChildRef] = Field(
        default=[], description="parents to add this element under, with the edge weight"
    )


def summary(dim: DimensionDef, h: Hierarchy) -> dict[str, Any]:
    return {
        "name": dim.name,
        "role": dim.role,
        "description": dim.description,
        "attributes": dim.attributes,
        "elements": h.size,
        "leaves": len(h.leaves),
    }


def get_all(ctx: Context) -> list[dict[str, Any]]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    out = []
    for d in rt.dimensions.values():
        row = summary(d, rt.hierarchy(d.name))
        visible = ctx.visible(d.name)
        if visible is not None:  # counts of what the caller may see
            h = rt.hierarchy(d.name)
            row["elements"] = int(visible.sum())
            row["leaves"] = int((visible & h.is_leaf).sum())
        out.append(row)
    return out


def get(ctx: Context, name: str) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    dim, h = rt.dimension(name), rt.hierarchy(name)
    body = dim.model_dump(mode="json")
    for e, leaf in zip(body["elements"], h.is_leaf, strict=True):
        e["leaf"] = bool(leaf)
        e["parents"] = [h.names[p] for p, _ in h.parents[h.index[e["name"]]]]
    visible = ctx.visible(name)
    if visible is not None:  # elements the caller may not see are not there
        shown = {n for n, ok in zip(h.names, visible, strict=True) if ok}
        body["elements"] = [e for e in body["elements"] if e["name"] in shown]
        for e in body["elements"]:
            e["parents"] = [p for p in e["parents"] if p in shown]
            if e.get("children"):
                e["children"] = [c for c in e["children"] if _child_name(c) in shown]
    return body


def _child_name(child: Any) -> str:
    return child if isinstance(child, str) else str(child.get("name"))


def create(ctx: Context, dim: DimensionDef) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    if dim.name in rt.dimensions:
        raise AlreadyExists(
            f"model {model!r} already has a dimension {dim.name!r}", model=model, dimension=dim.name
        )
    return _save(ws, rt, dim)


def replace(ctx: Context, dim: DimensionDef) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    rt.dimension(dim.name)
    return _save(ws, rt, dim)


def _save(ws: Workspace, rt: ModelRuntime, dim: DimensionDef) -> dict[str, Any]:
    hierarchy = build_hierarchy(dim)
    with rt.write_lock:
        rt.check_dimension(hierarchy)  # the cubes over it, resized, before anything is allocated
        if dim.name in rt.dimensions:
            _check_no_hidden_cells(rt, rt.hierarchy(dim.name), hierarchy)
            _check_rules_still_compile(rt, dim, hierarchy)
        ws.store.save_dimension(rt.name, dim)
        rt.set_dimension(dim, hierarchy)
    return summary(dim, hierarchy)


def _check_rules_still_compile(rt: ModelRuntime, dim: DimensionDef, hierarchy: Hierarchy) -> None:
    """Rules name elements and attributes; a changed dimension must leave every rule compiling."""
    rules = rt.rule_defs()
    if not rules:
        return
    trial = Engine()
    trial.dimensions = {**rt.engine.dimensions, hierarchy.name: hierarchy}
    trial.attributes = {**rt.engine.attributes, dim.name: element_attributes(dim)}
    for cube in rt.cubes.values():
        rt.add_cube(cube, engine=trial)
    trial.check_rules(rules)


def _check_no_hidden_cells(rt: ModelRuntime, old: Hierarchy, new: Hierarchy) -> None:
    lost = np.array(
        [
            old.is_leaf[i] and (n not in new.index or not new.is_leaf[new.index[n]])
            for i, n in enumerate(old.names)
        ],
        dtype=bool,
    )
    if not lost.any():
        return
    holding: dict[str, int] = {}
    for cube_name, dims in rt.engine.cube_dimensions.items():
        if old.name not in dims:
            continue
        axis = dims.index(old.name)
        cube = rt.engine.cube(cube_name)
        coords, _ = rt.engine.input_cells(cube_name)
        positions = [int(p) for p in coords[:, axis][lost[coords[:, axis]]]]
        positions += [k[axis] for k in cube.text if lost[k[axis]]]
        for p in positions:
            holding[old.names[p]] = holding.get(old.names[p], 0) + 1
    if holding:
        raise InUse(
            f"elements of dimension {old.name!r} hold stored cells and would drop out of every "
            f"total: {sorted(holding)[:10]}; clear their cells first",
            dimension=old.name,
            cells_by_element=holding,
        )


def upsert_elements(ctx: Context, name: str, items: list[ElementUpsert]) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    dim = rt.dimension(name).model_copy(deep=True)
    by_name = {e.name: e for e in dim.elements}
    for item in items:
        e = by_name.get(item.name)
        if e is None:
            e = ElementDef(name=item.name)
            dim.elements.append(e)
            by_name[item.name] = e
        if item.type is not None:
            e.type = item.type
        for attr, value in item.attributes.items():
            if value is None:
                e.attributes.pop(attr, None)
            else:
                e.attributes[attr] = value
        if item.children is not None:
            e.children = list(item.children)
    # each parent's child names as a set, made on first use: looking an edge up in the list
    # instead made adding N elements under one parent quadratic
    kids: dict[str, set[str]] = {}
    for item in items:
        for p in item.parents:
            parent = by_name.get(p.name)
            if parent is None:
                raise ElementNotFound(
                    f"element {item.name!r}: parent {p.name!r} is not an element of {name!r}",
                    dimension=name,
                    element=p.name,
                )
            known = kids.get(p.name)
            if known is None:
                known = kids[p.name] = {c.name for c in parent.children}
            if item.name not in known:
                known.add(item.name)
                parent.children.append(ChildRef(name=item.name, weight=p.weight))
    return replace(ctx, dim)


def delete_element(ctx: Context, name: str, element: str) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    element = rt.hierarchy(name).names[rt.position(name, element)]  # by alias, or not NFC
    dim = rt.dimension(name).model_copy(deep=True)
    dim.elements = [e for e in dim.elements if e.name != element]
    for e in dim.elements:
        e.children = [c for c in e.children if c.name != element]
    return replace(ctx, dim)


def delete(ctx: Context, name: str) -> None:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    rt.dimension(name)
    users = [c.name for c in rt.cubes.values() if name in c.dimensions]
    if users:
        raise InUse(f"dimension {name!r} is used by cube(s) {users}", dimension=name, cubes=users)
    with rt.write_lock:
        ws.store.delete_dimension(model, name)
        with rt.lock:
            rt.dimensions.pop(name, None)
            rt.engine.remove_dimension(name)
            rt.structure_version += 1
