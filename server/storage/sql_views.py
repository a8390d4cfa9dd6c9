"""SQL views over the store: one per cube, so BI tools and a DuckDB or psql user read the plan
with plain SQL (docs/exports.md).

The view of cube ``PnL`` in model ``demo`` is named ``"demo.PnL"`` (one quoted identifier): a
column per cube dimension, in cube order, holding the cell's element names, then ``num`` and
``txt`` as the store keeps them. Only stored leaf cells are there — no consolidations, no rule
values: those live in the engine. The address of a stored cell is its element names joined by
a tab (``server.storage.base.SEPARATOR``), so each dimension's column is ``split_part`` of it,
which DuckDB and PostgreSQL both have.

These views bypass element security: whoever may read the database reads every cell, as an
admin of the database does already.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.storage.base import SEPARATOR


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_name(model: str, cube: str) -> str:
    return f"{model}.{cube}"


def drop(model: str, cube: str) -> str:
    return f"DROP VIEW IF EXISTS {ident(view_name(model, cube))}"


def create(model: str, cube: str, dimensions: Sequence[str], *, delta: bool = True) -> str:
    """The view reads ``cells`` and the bulk loads still in ``cells_delta`` (a cell is in one
    of them, never both: ``server.storage.delta``); ``delta=False`` for a store before it."""
    sep = f"chr({ord(SEPARATOR)})"
    columns = [f"split_part(addr, {sep}, {i + 1}) AS {ident(d)}" for i, d in enumerate(dimensions)]
    where = (
        f"WHERE model = {literal(model)} AND cube = {literal(cube)} "
        "AND (num IS NOT NULL OR txt IS NOT NULL)"
    )
    source = f"(SELECT addr, num, txt FROM cells {where}"
    if delta:
        source += f" UNION ALL SELECT addr, num, txt FROM cells_delta {where}"
    source += ") AS c"
    return (
        f"CREATE VIEW {ident(view_name(model, cube))} AS SELECT {', '.join(columns)}, num, txt "
        f"FROM {source}"
    )
