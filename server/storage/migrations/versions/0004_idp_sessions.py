"""Sign-in through the identity provider: its pending flows, and the claims a session keeps.

``signin_flows`` holds an authorization-code flow between ``/api/auth/oidc/start`` and the
callback (state, nonce, PKCE verifier: ``server.auth.signin_flows``), so that any server process
on the database can finish what another began. ``sessions.external`` is the identity provider's
group ids and app roles at sign-in (JSON): a browser session maps them to groups as a bearer
token's claims are mapped on each request (``server.directory``).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE sessions ADD COLUMN external TEXT")
    op.create_table(
        "signin_flows",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("flow", sa.String(), nullable=False),
        sa.Column("next", sa.String(), nullable=False),
        sa.Column("created_at", sa.String(), nullable=False),
        sa.Column("expires_at", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("signin_flows")
    # DuckDB cannot alter a table an index depends on: the index goes and comes back
    op.drop_index("ix_sessions_user_id", "sessions")
    op.execute("ALTER TABLE sessions DROP COLUMN external")
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
