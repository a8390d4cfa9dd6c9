"""A bulk load's new cells are written once: their first history row waits in ``cells_delta``
(``unlogged``) until the background merge writes it (``server.storage.delta``).

Revision ID: 0012
Revises: 0009
"""

from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # every row already in the delta has its history row: FALSE
    op.execute("ALTER TABLE cells_delta ADD COLUMN unlogged BOOLEAN DEFAULT FALSE")


def downgrade() -> None:
    op.execute(
        "INSERT INTO cell_history SELECT commit_id, model, cube, addr, CAST(NULL AS DOUBLE "
        "PRECISION), CAST(NULL AS TEXT), num, txt FROM cells_delta WHERE unlogged"
    )
    op.execute("ALTER TABLE cells_delta DROP COLUMN unlogged")
