"""Alerts from running cycles: subscriptions per channel and account, each account's polling
cursors and webhook secret, each cycle's parent message per channel, and every incident seen
(one row per channel and transaction: the same transaction is never posted twice)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "cyclr_alert_subscriptions",
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("channel_id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(255), primary_key=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("subscribed_by", sa.String(32), nullable=False),
        sa.Column("subscribed_at", tz, nullable=False),
    )
    op.create_table(
        "cyclr_alert_accounts",
        sa.Column("account_id", sa.String(255), primary_key=True),
        sa.Column("error_cursor", sa.String(64)),
        sa.Column("warning_cursor", sa.String(64)),
        sa.Column("since", tz, nullable=False),
        sa.Column("secret_hash", sa.String(64)),
        sa.Column("webhook_saved", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("previous_enabled", sa.Boolean),
        sa.Column("previous_url", sa.Text),
        sa.Column("previous_warnings", sa.Boolean),
        sa.UniqueConstraint("secret_hash", name="uq_cyclr_alert_accounts_secret_hash"),
    )
    op.create_table(
        "cyclr_alert_threads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("cycle_id", sa.String(255), nullable=False),
        sa.Column("cycle_name", sa.String(255)),
        sa.Column("parent_ts", sa.String(32)),
        sa.Column("told_at", tz),
        sa.UniqueConstraint("channel_id", "account_id", "cycle_id", name="uq_cyclr_alert_threads_cycle"),
    )
    op.create_table(
        "cyclr_alert_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("thread_id", sa.Integer, nullable=False),
        sa.Column("transaction_id", sa.String(255), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("step_name", sa.String(255)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),  # redacted before it is stored
        sa.Column("auth_failure", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("occurred_at", tz, nullable=False),
        sa.Column("posted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("thread_id", "transaction_id", name="uq_cyclr_alert_events_transaction"),
    )
    op.create_index("ix_cyclr_alert_events_unposted", "cyclr_alert_events", ["thread_id", "posted"])


def downgrade() -> None:
    op.drop_index("ix_cyclr_alert_events_unposted", table_name="cyclr_alert_events")
    op.drop_table("cyclr_alert_events")
    op.drop_table("cyclr_alert_threads")
    op.drop_table("cyclr_alert_accounts")
    op.drop_table("cyclr_alert_subscriptions")
