"""What the connector health sweep last saw of each installed connector, and when a lost
login was last told (so it is told at most once a day)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "cyclr_connector_health",
        sa.Column("account_id", sa.String(255), primary_key=True),
        sa.Column("account_connector_id", sa.BigInteger, primary_key=True),
        sa.Column("connector_name", sa.String(255), nullable=False),
        sa.Column("authenticated", sa.Boolean, nullable=False),
        sa.Column("changed_at", tz, nullable=False),
        sa.Column("lost_at", tz),
        sa.Column("told_at", tz),
    )


def downgrade() -> None:
    op.drop_table("cyclr_connector_health")
