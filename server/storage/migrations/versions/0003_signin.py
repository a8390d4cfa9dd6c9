"""Local sign-in state on ``users``: failed attempts, lock-out, last sign-in, a display name.

Failed password attempts are counted in the database, not in a server process, so several
processes serving one PostgreSQL database lock an account out together (``server.auth.passwords``).
The columns are added with plain SQL rather than ``op.add_column``: DuckDB cannot add a column
with a constraint, so ``failed_signins`` gets its default first and ``NOT NULL`` after, which
both stores accept.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TEXT = ("display_name", "failed_since", "locked_until", "last_signin_at")


def upgrade() -> None:
    op.execute("ALTER TABLE users ADD COLUMN failed_signins INTEGER DEFAULT 0")
    op.execute("UPDATE users SET failed_signins = 0 WHERE failed_signins IS NULL")
    op.execute("ALTER TABLE users ALTER COLUMN failed_signins SET NOT NULL")
    for column in _TEXT:
        op.execute(f"ALTER TABLE users ADD COLUMN {column} TEXT")


def downgrade() -> None:
    for column in ("failed_signins", *_TEXT):
        op.execute(f"ALTER TABLE users DROP COLUMN {column}")
