"""Cycle activations, pauses and resumes made from Slack: the audit log's second table."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "cyclr_cycle_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_key", sa.String(255), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("cycle_id", sa.String(255), nullable=False),
        sa.Column("cycle_name", sa.String(255)),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("interval", sa.Integer),
        sa.Column("run_once", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("updated_at", tz, nullable=False),
        sa.Column("notify_channel", sa.String(32)),
        sa.Column("notify_ts", sa.String(32)),
        sa.UniqueConstraint("request_key", name="uq_cyclr_cycle_events_request_key"),
    )
    op.create_index("ix_cyclr_cycle_events_team_created", "cyclr_cycle_events", ["team_id", "created_at"])
    op.create_index("ix_cyclr_cycle_events_cycle", "cyclr_cycle_events", ["account_id", "cycle_id"])
