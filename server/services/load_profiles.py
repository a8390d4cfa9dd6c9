"""Load profiles: an import's mapping saved under a name, to load the next file the same way.

A profile is a ``LoadSpec`` (``server.imports.spec``: the columns, constants, layout, locale,
read options and mode — everything an import takes but the file) for one cube of a model, under a
name unique in the model, with who made it and who changed it last, and when. An import names it
(``POST …/cubes/{cube}/import?profile=NAME``; ``plancube import --profile NAME``) instead of
spelling the mapping out; query parameters given beside it override it field by field
(``merge``), so a month-end file differing in one constant needs no second profile.

A profile is checked against the model when it is saved — its cube exists, every dimension its
``columns``, ``constants`` and ``across`` name is one of the cube's — and again by the import
when it is used (the model may have changed in between). Profiles go with their model: deleting
the model deletes them (``Store.delete_model``).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from sqlmodel import col, select

from server.access import Access
from server.context import Context
from server.errors import AlreadyExists, InvalidValue, NotFound
from server.imports.spec import LoadSpec
from server.storage.metadata import LoadProfile
from server.storage.sql import now


class LoadProfileNotFound(NotFound):
    code = "load_profile_not_found"


class LoadProfileExists(AlreadyExists):
    code = "load_profile_exists"


def to_json(row: LoadProfile) -> dict[str, Any]:
    return {
        "name": row.name,
        "cube": row.cube,
        "description": row.description,
        "spec": orjson.loads(row.spec),
        "created_by": row.created_by,
        "created_at": row.created_at,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at,
    }


def check(ctx: Context, cube: str, spec: LoadSpec) -> None:
    """Refuse (422) a profile whose cube or dimensions the model does not have."""
    rt = ctx.rt
    if cube not in rt.cubes or (ctx.masks.cubes and ctx.masks.ceiling(cube) < Access.READ):
        raise InvalidValue(
            f"model {ctx.model_name!r} has no cube {cube!r}", field="cube", cube=cube
        )
    dims = rt.cube(cube).dimensions
    named = [*spec.columns, *spec.constants, *([spec.across] if spec.across else [])]
    unknown = [d for d in dict.fromkeys(named) if d not in dims]
    if unknown:
        raise InvalidValue(
            f"cube {cube!r} has no dimension {', '.join(map(repr, unknown))} "
            f"(its dimensions: {', '.join(dims)})",
            field="spec",
            cube=cube,
            unknown=unknown,
            dimensions=list(dims),
        )
    both = sorted(set(spec.columns) & set(spec.constants))
    if both:
        raise InvalidValue(
            f"dimension {both[0]!r} is given both a column and a constant",
            field="spec",
            dimension=both[0],
        )


def _row(ctx: Context, s: Any, name: str) -> LoadProfile:
    row = s.get(LoadProfile, (ctx.model_name, name))
    if row is None:
        raise LoadProfileNotFound(
            f"model {ctx.model_name!r} has no load profile {name!r}",
            model=ctx.model_name,
            profile=name,
        )
    assert isinstance(row, LoadProfile)
    return row


def get_all(ctx: Context) -> list[dict[str, Any]]:
    ctx.rt  # noqa: B018 -- the model exists (else 404 model_not_found)
    with ctx.ws.store.transaction() as tx:
        rows = tx.session.exec(
            select(LoadProfile)
            .where(LoadProfile.model == ctx.model_name)
            .order_by(col(LoadProfile.name))
        ).all()
        return [to_json(r) for r in rows]


def get(ctx: Context, name: str) -> dict[str, Any]:
    return to_json(find(ctx, name))


def find(ctx: Context, name: str) -> LoadProfile:
    ctx.rt  # noqa: B018
    with ctx.ws.store.transaction() as tx:
        row = _row(ctx, tx.session, name)
        tx.session.expunge(row)
        return row


def spec_of(row: LoadProfile) -> LoadSpec:
    return LoadSpec.model_validate_json(row.spec)


def create(
    ctx: Context, name: str, cube: str, spec: LoadSpec, description: str = ""
) -> dict[str, Any]:
    check(ctx, cube, spec)
    who, at = ctx.caller.name, now()
    with ctx.ws.store.transaction(ctx.model_name) as tx:  # serialized: one name, one profile
        s = tx.session
        if s.get(LoadProfile, (ctx.model_name, name)) is not None:
            raise LoadProfileExists(
                f"model {ctx.model_name!r} already has a load profile {name!r}",
                model=ctx.model_name,
                profile=name,
            )
        row = LoadProfile(
            model=ctx.model_name,
            name=name,
            cube=cube,
            spec=spec.model_dump_json(),
            description=description,
            created_by=who,
            created_at=at,
            updated_by=who,
            updated_at=at,
        )
        s.add(row)
        out = to_json(row)
    return out


def update(
    ctx: Context, name: str, cube: str, spec: LoadSpec, description: str = ""
) -> dict[str, Any]:
    check(ctx, cube, spec)
    with ctx.ws.store.transaction(ctx.model_name) as tx:
        s = tx.session
        row = _row(ctx, s, name)
        row.cube, row.spec, row.description = cube, spec.model_dump_json(), description
        row.updated_by, row.updated_at = ctx.caller.name, now()
        s.add(row)
        out = to_json(row)
    return out


def delete(ctx: Context, name: str) -> None:
    ctx.rt  # noqa: B018
    with ctx.ws.store.transaction(ctx.model_name) as tx:
        s = tx.session
        s.delete(_row(ctx, s, name))


# the import route's query parameters that a profile's fields answer to
PARAMETERS = {
    "map": "columns",
    "const": "constants",
    "value": "value",
    "across": "across",
    "columns": "value_columns",
    "case_insensitive": "case_insensitive",
    "decimal": "decimal",
    "thousands": "thousands",
    "delimiter": "delimiter",
    "encoding": "encoding",
    "sheet": "sheet",
    "mode": "mode",
    "load_valid_rows": "load_valid_rows",
}


def merge(spec: LoadSpec, given: dict[str, Any]) -> LoadSpec:
    """The profile's spec with the fields an import gives beside it put over it.

    ``given`` holds ``LoadSpec`` fields. ``columns`` and ``constants`` merge per dimension: a
    dimension the import maps (to a column or a constant) is taken from the import, the others
    from the profile — so ``const=Version=Budget`` switches one constant, and a dimension the
    profile reads from a column can be pinned to one element. Every other field given replaces
    the profile's.
    """
    data = spec.model_dump()
    given = dict(given)
    mine_cols = given.pop("columns", {})
    mine_consts = given.pop("constants", {})
    overridden = set(mine_cols) | set(mine_consts)
    data["columns"] = {
        **{d: c for d, c in data["columns"].items() if d not in overridden},
        **mine_cols,
    }
    data["constants"] = {
        **{d: e for d, e in data["constants"].items() if d not in overridden},
        **mine_consts,
    }
    data.update(given)
    try:
        return LoadSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidValue(
            f"the profile with the import's parameters is not valid: "
            f"{'.'.join(map(str, first['loc']))}: {first['msg']}",
        ) from None
