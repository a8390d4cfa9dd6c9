"""Connectors and their runs (``server.storage.connector_records``, ``server.services.connectors``).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("model", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("config", sa.String(), nullable=False),
        sa.Column("secrets", sa.String(), nullable=False),
        sa.Column("cube", sa.String(), nullable=False),
        sa.Column("load_spec", sa.String(), nullable=False),
        sa.Column("schedule", sa.String(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("watermark", sa.String(), nullable=True),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("running", sa.String(), nullable=True),
        sa.Column("claimed_at", sa.String(), nullable=True),
        sa.Column("next_run_at", sa.String(), nullable=True),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("updated_at", sa.String(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
    )
    op.create_table(
        "connector_runs",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("connector", sa.String(), nullable=False),
        sa.Column("cause", sa.String(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("phase", sa.String(), nullable=False),
        sa.Column("started_at", sa.String(), nullable=False),
        sa.Column("ended_at", sa.String(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("cells", sa.Integer(), nullable=False),
        sa.Column("commit_id", sa.BigInteger(), nullable=True),
        sa.Column("watermark_before", sa.String(), nullable=True),
        sa.Column("watermark_after", sa.String(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("report", sa.String(), nullable=True),
    )
    op.create_index("ix_connector_runs_model", "connector_runs", ["model"])


def downgrade() -> None:
    op.drop_index("ix_connector_runs_model", "connector_runs")
    op.drop_table("connector_runs")
    op.drop_table("connectors")
