"""``cyclr_heartbeat``: one row that ``/healthz`` rewrites, so health means "takes writes"
(an SQLite file that is full or read-only still answers reads)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cyclr_heartbeat",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
    )
