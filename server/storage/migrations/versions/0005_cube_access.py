"""Cube security: a group's access to a whole cube, which caps what element security gives.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cube_access",
        sa.Column("model", sa.String(), primary_key=True),
        sa.Column("cube", sa.String(), primary_key=True),
        sa.Column("group_id", sa.String(), primary_key=True),
        sa.Column("access", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cube_access")
