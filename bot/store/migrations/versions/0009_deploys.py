"""Template deploys made from Slack (``/cyclr templates`` → *Deploy*)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "cyclr_deploys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_key", sa.String(255), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("template_id", sa.String(255), nullable=False),
        sa.Column("template_name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("cycle_id", sa.String(255)),
        sa.Column("cycle_name", sa.String(255)),
        sa.Column("attempted_at", tz),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("updated_at", tz, nullable=False),
        sa.Column("dm_channel", sa.String(32)),
        sa.Column("dm_ts", sa.String(32)),
        sa.Column("notify_channel", sa.String(32)),
        sa.Column("notify_ts", sa.String(32)),
        sa.UniqueConstraint("request_key", name="uq_cyclr_deploys_request_key"),
    )
    op.create_index("ix_cyclr_deploys_state", "cyclr_deploys", ["state", "created_at"])
    op.create_index("ix_cyclr_deploys_cycle", "cyclr_deploys", ["account_id", "cycle_id"])


def downgrade() -> None:
    op.drop_index("ix_cyclr_deploys_cycle", table_name="cyclr_deploys")
    op.drop_index("ix_cyclr_deploys_state", table_name="cyclr_deploys")
    op.drop_table("cyclr_deploys")
