"""Bulk-loaded new cells wait in ``cells_delta``, unindexed, until a background merge moves them
into ``cells`` (``server.storage.delta``); the SQL views read both.

Revision ID: 0010
Revises: 0007
"""

import json

import sqlalchemy as sa
from alembic import op

from server.storage import sql_views

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """CREATE TABLE IF NOT EXISTS cells_delta (
        model TEXT NOT NULL, cube TEXT NOT NULL, addr TEXT NOT NULL,
        num DOUBLE PRECISION, txt TEXT, commit_id BIGINT NOT NULL)"""
    )
    _recreate_views()


def downgrade() -> None:
    op.execute(
        "INSERT INTO cells SELECT model || chr(31) || cube || chr(31) || addr, model, cube, "
        "addr, num, txt, commit_id FROM cells_delta"
    )
    op.execute("DROP TABLE cells_delta")
    _recreate_views(delta=False)


def _recreate_views(delta: bool = True) -> None:
    bind = op.get_bind()
    for model, cube, dims in bind.execute(sa.text("SELECT model, name, dimensions FROM cubes")):
        op.execute(sql_views.drop(model, cube))
        op.execute(sql_views.create(model, cube, json.loads(dims), delta=delta))
