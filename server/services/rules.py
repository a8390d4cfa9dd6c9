"""Rules: Excel-syntax formulas that compute measures of a cube, managed per cube.

Every change is checked whole before it is stored: the cube's new rule list, together with the
rules of every other cube, must compile (a bad formula is 422 ``invalid_rule`` with the position
in the formula) and must not loop (422 ``rule_cycle`` naming the rules). Then it is stored, the
engine recalculates, and live views hear about it like they hear about a commit.
"""

from __future__ import annotations

from typing import Any

from server.context import Context
from server.errors import AlreadyExists, BadRequest, NotFound
from server.modeldef import CubeDef, RuleSpec
from server.workspace import ModelRuntime


class RuleNotFound(NotFound):
    code = "rule_not_found"


def get_all(ctx: Context, cube: str) -> list[dict[str, Any]]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    return [r.model_dump() for r in rt.cube(cube).rules]


def get(ctx: Context, cube: str, name: str) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.model_name
    return _find(ws.runtime(model), cube, name).model_dump()


def _find(rt: ModelRuntime, cube: str, name: str) -> RuleSpec:
    for r in rt.cube(cube).rules:
        if r.name == name:
            return r
    raise RuleNotFound(f"cube {cube!r} has no rule {name!r}", cube=cube, rule=name)


def replace_all(ctx: Context, cube: str, rules: list[RuleSpec]) -> list[dict[str, Any]]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    names = [r.name for r in rules]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BadRequest(f"rule names must be unique in a cube: {twice}", rules=twice)
    new_def = rt.cube(cube).model_copy(update={"rules": list(rules)})
    cubes: dict[str, CubeDef] = {**rt.cubes, cube: new_def}
    with rt.write_lock:
        rt.engine.check_rules(rt.rule_defs(cubes))
        ws.store.save_cube(model, new_def)
        stored = ws.store.load_cells(model, cube)
        with rt.lock:
            rt.cubes[cube] = new_def
            # cells that stop being rule cells show their stored input (or nothing) again
            rt.load_cells(cube, stored)
            rt.engine.set_rules(rt.rule_defs())
            rt.structure_version += 1
    ws.feed.publish(model, {"commit": None, "cubes": list(rt.cubes)})
    return [r.model_dump() for r in rules]


def create(ctx: Context, cube: str, rule: RuleSpec) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    existing = rt.cube(cube).rules
    if any(r.name == rule.name for r in existing):
        raise AlreadyExists(f"cube {cube!r} already has a rule {rule.name!r}", rule=rule.name)
    replace_all(ctx, cube, [*existing, rule])
    return rule.model_dump()


def update(ctx: Context, cube: str, name: str, rule: RuleSpec) -> dict[str, Any]:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    _find(rt, cube, name)
    rules = [rule if r.name == name else r for r in rt.cube(cube).rules]
    replace_all(ctx, cube, rules)
    return rule.model_dump()


def delete(ctx: Context, cube: str, name: str) -> None:
    ws, model = ctx.ws, ctx.model_name
    rt = ws.runtime(model)
    _find(rt, cube, name)
    replace_all(ctx, cube, [r for r in rt.cube(cube).rules if r.name != name])
