"""The job queue (work after the ack, timed work) and the schedule of timed jobs."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "cyclr_jobs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("run_at", tz, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("lease_until", tz),
        sa.Column("rerun", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("outcome", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("updated_at", tz, nullable=False),
    )
    live = sa.text("state IN ('queued', 'running')")
    op.create_index(
        "uq_cyclr_jobs_live_key",
        "cyclr_jobs",
        ["key"],
        unique=True,
        sqlite_where=live,
        postgresql_where=live,
    )
    op.create_index("ix_cyclr_jobs_due", "cyclr_jobs", ["state", "run_at"])
    op.create_table(
        "cyclr_schedule",
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("next_run_at", tz, nullable=False),
    )
