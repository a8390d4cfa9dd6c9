"""Connectors: configured pulls of a model, each loading a source's rows into one cube.

A connector is an instance of a connector type (``connector_types()``: the built-in REST and
SQL types, ``connectors.BUILTIN``, and those plugins register) in one model: the type's config,
the secrets it refers to (``server.connector_secrets``), the cube and the ``LoadSpec`` (mapping,
mode) its rows load through — the same rules as a file import — a cron schedule
(``server.scheduler``) and the watermark of its last committed run. Running one is
``server.services.connector_runs``; this module keeps the configuration: the same verbs as
every service (``get_all``, ``get``, ``create``, ``update``, ``delete``), for a Modeler.

Everything is checked when saved — the type, its config (its pydantic model), the cube, the
schedule — so a run fails only on what only a run can find: the source, a secret, the data.
"""

from __future__ import annotations

from typing import Any

import orjson
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import col, select

from connectors import ConnectorType
from server import connector_secrets, plugins
from server.context import Context
from server.errors import AlreadyExists, InvalidValue, NotFound, PlancubeError
from server.imports.spec import LoadSpec
from server.names import PathName
from server.storage.connector_records import ConnectorRow, ConnectorRun
from server.storage.sql import now
from server.wire import Description

SecretGiven = str | dict[str, str] | None  # "env:NAME", {"env": NAME}, {"value": …}; None: remove


class ConnectorNotFound(NotFound):
    code = "connector_not_found"


class ConnectorExists(AlreadyExists):
    code = "connector_exists"


class ConnectorRunning(PlancubeError):
    status = 409
    code = "connector_running"


def connector_types() -> dict[str, ConnectorType]:
    """Every connector type by name, from the hook registry: the built-in REST and SQL types
    (``connectors.builtin``) and those plugins register."""
    return plugins.connectors()


class ConnectorBody(BaseModel):
    """A connector as the API takes it (``PUT`` replaces all but its secrets, which merge)."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64, description="rest, sql, or a plugin's")
    config: dict[str, Any] = Field(description="the type's config (docs/connectors.md)")
    secrets: dict[str, SecretGiven] = Field(
        default_factory=dict,
        description='name -> "env:NAME" (a variable of the server\'s environment) or '
        '{"value": "…"} (stored encrypted); null removes one. Write-only: answers show '
        '{"set": true}',
    )
    cube: PathName
    load: LoadSpec = Field(
        default_factory=lambda: LoadSpec.model_validate({}), description="mapping and mode"
    )
    schedule: str | None = Field(
        None, max_length=255, description='cron, UTC (e.g. "0 6 * * 1-5"); null: by hand only'
    )
    enabled: bool = True
    description: Description = ""


class ConnectorCreate(ConnectorBody):
    name: PathName


def _type(name: str) -> ConnectorType:
    types = connector_types()
    if name not in types:
        raise InvalidValue(
            f"no connector type {name!r} (there are: {sorted(types)})",
            type=name,
            types=sorted(types),
        )
    return types[name]


def _config(kind: ConnectorType, config: dict[str, Any]) -> BaseModel:
    try:
        return kind.config.model_validate(config)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        first = problems[0]
        raise InvalidValue(
            f"{kind.name} config: {first['field'] or '(config)'}: {first['message']}",
            problems=problems,
        ) from None


def config_of(row: ConnectorRow) -> BaseModel:
    return _config(_type(row.type), orjson.loads(row.config))


def _schedule(schedule: str | None) -> str | None:
    if schedule is None or not schedule.strip():
        return None
    schedule = " ".join(schedule.split())
    if not croniter.is_valid(schedule) or len(schedule.split()) != 5:
        raise InvalidValue(
            f"schedule {schedule!r} is not a cron expression of five fields "
            "(minute hour day-of-month month day-of-week)",
            schedule=schedule,
        )
    return schedule


def _secrets(stored: dict[str, dict[str, str]], given: dict[str, SecretGiven]) -> str:
    out = dict(stored)
    for name, value in given.items():
        if value is None:
            out.pop(name, None)
            continue
        try:
            out[name] = connector_secrets.stored_form(value, name)
        except ValueError as exc:
            raise InvalidValue(str(exc), secret=name) from None
    return orjson.dumps(out).decode()


def find(ctx: Context, tx: Any, name: str) -> ConnectorRow:
    row = tx.session.get(ConnectorRow, (ctx.model_name, name))
    if row is None:
        raise ConnectorNotFound(
            f"model {ctx.model_name!r} has no connector {name!r}",
            model=ctx.model_name,
            connector=name,
        )
    return row


def load(ctx: Context, name: str) -> ConnectorRow:
    """The stored row (detached)."""
    with ctx.ws.store.transaction() as tx:
        row = find(ctx, tx, name)
        tx.session.expunge(row)
        return row


def as_json(row: ConnectorRow) -> dict[str, Any]:
    base = f"/api/models/{row.model}/connectors/{row.name}"
    return {
        "name": row.name,
        "model": row.model,
        "type": row.type,
        "description": row.description,
        "config": orjson.loads(row.config),
        "secrets": connector_secrets.shown(orjson.loads(row.secrets)),
        "cube": row.cube,
        "load": orjson.loads(row.load_spec),
        "schedule": row.schedule,
        "enabled": row.enabled,
        "watermark": orjson.loads(row.watermark) if row.watermark is not None else None,
        "next_run_at": row.next_run_at,
        "running": row.running,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "updated_by": row.updated_by,
        "links": {"self": base, "run": f"{base}/run", "runs": f"{base}/runs"},
    }


def get_all(ctx: Context) -> list[dict[str, Any]]:
    ctx.rt  # noqa: B018 - an unknown model is a 404
    with ctx.ws.store.transaction() as tx:
        rows = tx.session.exec(
            select(ConnectorRow)
            .where(ConnectorRow.model == ctx.model_name)
            .order_by(col(ConnectorRow.name))
        ).all()
        return [as_json(r) for r in rows]


def get(ctx: Context, name: str) -> dict[str, Any]:
    return as_json(load(ctx, name))


def _fill(ctx: Context, row: ConnectorRow, body: ConnectorBody) -> None:
    kind = _type(body.type)
    config = _config(kind, body.config)
    ctx.rt.cube(body.cube)  # 404 cube_not_found
    schedule = _schedule(body.schedule)
    if schedule != row.schedule:
        row.next_run_at = None  # the scheduler sets it from the new schedule when it next looks
    row.type = kind.name
    row.config = orjson.dumps(config.model_dump(mode="json", exclude_unset=True)).decode()
    row.secrets = _secrets(orjson.loads(row.secrets or "{}"), body.secrets)
    row.cube = body.cube
    row.load_spec = body.load.model_dump_json(exclude_defaults=True)
    row.schedule = schedule
    row.enabled = body.enabled
    row.description = body.description
    row.updated_at = now()
    row.updated_by = ctx.author


def create(ctx: Context, body: ConnectorCreate) -> dict[str, Any]:
    row = ConnectorRow(
        model=ctx.model_name, name=body.name, type="", config="{}", cube="", load_spec="{}"
    )
    _fill(ctx, row, body)
    with ctx.ws.store.transaction() as tx:
        if tx.session.get(ConnectorRow, (ctx.model_name, body.name)) is not None:
            raise ConnectorExists(
                f"model {ctx.model_name!r} has a connector {body.name!r} already",
                connector=body.name,
            )
        tx.session.add(row)
        tx.session.flush()
        return as_json(row)


def update(ctx: Context, name: str, body: ConnectorBody) -> dict[str, Any]:
    ctx.rt  # noqa: B018
    with ctx.ws.store.transaction() as tx:
        row = find(ctx, tx, name)
        _fill(ctx, row, body)
        tx.session.add(row)
        tx.session.flush()
        return as_json(row)


def delete(ctx: Context, name: str) -> None:
    ctx.rt  # noqa: B018
    with ctx.ws.store.transaction() as tx:
        row = find(ctx, tx, name)
        if row.running is not None:
            raise ConnectorRunning(
                f"connector {name!r} is running (run {row.running}); delete it once it ends",
                connector=name,
                run=row.running,
            )
        tx.session.delete(row)
        for run in tx.session.exec(
            select(ConnectorRun).where(
                ConnectorRun.model == ctx.model_name, ConnectorRun.connector == name
            )
        ).all():
            tx.session.delete(run)
