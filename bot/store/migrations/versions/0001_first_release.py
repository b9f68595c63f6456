"""The first release's schema (the tables as of commit 2f83303).

Databases made by the first release have these tables and no version table; they are
stamped with this revision before upgrading (see :func:`bot.store.schema.upgrade`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "cyclr_installs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("submission_key", sa.String(255), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("connector_id", sa.BigInteger, nullable=False),
        sa.Column("connector_name", sa.String(255), nullable=False),
        sa.Column("connector_version", sa.String(64)),
        sa.Column("auth_kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("account_connector_id", sa.BigInteger),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("updated_at", tz, nullable=False),
        sa.Column("notify_channel", sa.String(32)),
        sa.Column("notify_ts", sa.String(32)),
        sa.Column("dm_channel", sa.String(32)),
        sa.Column("dm_ts", sa.String(32)),
        sa.Column("uninstalled_by", sa.String(32)),
        sa.Column("attempted_at", tz),
        sa.Column("told_state", sa.String(16)),
        sa.UniqueConstraint("submission_key", name="uq_cyclr_installs_submission_key"),
    )
    op.create_index("ix_cyclr_installs_team_created", "cyclr_installs", ["team_id", "created_at"])
    op.create_index("ix_cyclr_installs_state", "cyclr_installs", ["state"])
    op.create_index(
        "ix_cyclr_installs_account_connector", "cyclr_installs", ["account_id", "account_connector_id"]
    )
    op.create_table(
        "cyclr_channel_bindings",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("channel_id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("bound_by", sa.String(32), nullable=False),
        sa.Column("bound_at", tz, nullable=False),
    )
    op.create_table(
        "cyclr_link_refs",
        sa.Column("ref", sa.String(64), primary_key=True),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("account_connector_id", sa.BigInteger, nullable=False),
        sa.Column("connector_name", sa.String(255), nullable=False),
        sa.Column("install_id", sa.Integer),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("expires_at", tz, nullable=False),
        sa.Column("revoked_at", tz),
        sa.Column("dm_channel", sa.String(32)),
        sa.Column("dm_ts", sa.String(32)),
        sa.Column("authenticated_at", tz),
    )
    op.create_index("ix_cyclr_link_refs_connector", "cyclr_link_refs", ["account_id", "account_connector_id"])
