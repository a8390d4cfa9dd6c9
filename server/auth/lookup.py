"""The look-up behind every signed-in request: a session or a token and its user, in one query.

``resolve_session`` and ``resolve_token`` run on each request a cookie or a personal access
token signs in (a cache sits on top, in the request context), so they skip the ORM: one plain
query by a unique key, joined to ``users`` by its primary key, costs about half as much on
DuckDB as the same through sqlmodel. The user comes back as a ``User``, detached.
"""

from __future__ import annotations

import sqlalchemy as sa

from server.storage import Store
from server.storage.metadata import User

_NAMES = [c.name for c in User.__table__.columns]  # type: ignore[attr-defined]
USER_COLUMNS = ", ".join(f"u.{name} AS u_{name}" for name in _NAMES)
"""The user's columns for a query's SELECT list, the table aliased ``u``."""


def lookup(store: Store, query: sa.TextClause, key: str) -> tuple[sa.RowMapping, User] | None:
    """The row ``query`` finds for ``:key`` and the user in it."""
    with store.transaction() as tx:
        row = tx.connection.execute(query, {"key": key}).mappings().first()
    if row is None:
        return None
    return row, User(**{name: row[f"u_{name}"] for name in _NAMES})
