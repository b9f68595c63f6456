"""Table definitions (SQLAlchemy Core); the schema itself is made by the migrations in
:mod:`bot.store.migrations`, which must match these."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()

installs = Table(
    "cyclr_installs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_key", String(255), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("channel_id", String(32)),
    Column("account_id", String(255), nullable=False),
    Column("connector_id", BigInteger, nullable=False),
    Column("connector_name", String(255), nullable=False),
    Column("connector_version", String(64)),
    Column("auth_kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text),
    Column("account_connector_id", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("notify_channel", String(32)),
    Column("notify_ts", String(32)),
    Column("dm_channel", String(32)),
    Column("dm_ts", String(32)),
    Column("uninstalled_by", String(32)),
    Column("attempted_at", DateTime(timezone=True)),  # the install POST is about to be sent
    UniqueConstraint("submission_key", name="uq_cyclr_installs_submission_key"),
)
Index("ix_cyclr_installs_team_created", installs.c.team_id, installs.c.created_at)
Index("ix_cyclr_installs_state", installs.c.state)
Index("ix_cyclr_installs_account_connector", installs.c.account_id, installs.c.account_connector_id)

bindings = Table(
    "cyclr_channel_bindings",
    metadata,
    Column("team_id", String(32), primary_key=True),
    Column("channel_id", String(32), primary_key=True),
    Column("account_id", String(255), nullable=False),
    Column("bound_by", String(32), nullable=False),
    Column("bound_at", DateTime(timezone=True), nullable=False),
)

links = Table(
    "cyclr_link_refs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # SHA-256 (hex) of the ref in the DM's URL; the ref itself is never stored.
    Column("ref_hash", String(64), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("account_id", String(255), nullable=False),
    Column("account_connector_id", BigInteger, nullable=False),
    Column("connector_name", String(255), nullable=False),
    Column("install_id", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("dm_channel", String(32)),
    Column("dm_ts", String(32)),
    Column("authenticated_at", DateTime(timezone=True)),
    Column("armed_until", DateTime(timezone=True)),  # the owner clicked in Slack: one mint until then
    Column("minted_at", DateTime(timezone=True)),  # the last sign-in token minted through this ref
    # SHA-256 (hex) of the return id sent to Cyclr in targetOrigin with the last token.
    Column("return_hash", String(64)),
    UniqueConstraint("ref_hash", name="uq_cyclr_link_refs_ref_hash"),
    UniqueConstraint("return_hash", name="uq_cyclr_link_refs_return_hash"),
)
Index("ix_cyclr_link_refs_connector", links.c.account_id, links.c.account_connector_id)

jobs = Table(
    "cyclr_jobs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(64), nullable=False),
    # At most one queued or running job per key (see bot.store.queue).
    Column("key", String(255)),
    Column("payload", Text, nullable=False),  # JSON; never a secret
    Column("state", String(16), nullable=False),  # queued, running, done, failed
    Column("run_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_by", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("rerun", Boolean, nullable=False, server_default=false()),  # asked again while running
    Column("outcome", Text),  # JSON
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
_LIVE = text("state IN ('queued', 'running')")
Index("uq_cyclr_jobs_live_key", jobs.c.key, unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE)
Index("ix_cyclr_jobs_due", jobs.c.state, jobs.c.run_at)

schedule = Table(
    "cyclr_schedule",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("next_run_at", DateTime(timezone=True), nullable=False),
)

connector_health = Table(
    "cyclr_connector_health",
    metadata,
    Column("account_id", String(255), primary_key=True),
    Column("account_connector_id", BigInteger, primary_key=True),
    Column("connector_name", String(255), nullable=False),
    Column("authenticated", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),  # when this row last changed
    # When a sweep first saw it unauthenticated after seeing it authenticated; cleared when
    # it is authenticated again.
    Column("lost_at", DateTime(timezone=True)),
    # When the lost login was last told (DM and channel line): at most once a day.
    Column("told_at", DateTime(timezone=True)),
)

cycle_events = Table(
    "cyclr_cycle_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # One row per request (a modal's view id, a button click): a repeat finds the same row.
    Column("request_key", String(255), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("channel_id", String(32)),
    Column("account_id", String(255), nullable=False),
    Column("cycle_id", String(255), nullable=False),
    Column("cycle_name", String(255)),
    Column("action", String(16), nullable=False),  # activate, pause, resume
    Column("interval", Integer),  # minutes, for activate and resume
    Column("run_once", Boolean, nullable=False, server_default=false()),
    Column("state", String(16), nullable=False),  # pending, done, unchanged, failed
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("notify_channel", String(32)),
    Column("notify_ts", String(32)),
    UniqueConstraint("request_key", name="uq_cyclr_cycle_events_request_key"),
)
Index("ix_cyclr_cycle_events_team_created", cycle_events.c.team_id, cycle_events.c.created_at)
Index("ix_cyclr_cycle_events_cycle", cycle_events.c.account_id, cycle_events.c.cycle_id)

#: Template deploys made from Slack: written before the call to Cyclr, marked attempted
#: (compare-and-set) just before it, so a lost answer is reconciled, never retried.
deploys = Table(
    "cyclr_deploys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_key", String(255), nullable=False),  # the modal's view id
    Column("team_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("channel_id", String(32)),
    Column("account_id", String(255), nullable=False),
    Column("template_id", String(255), nullable=False),
    Column("template_name", String(255), nullable=False),
    Column("state", String(16), nullable=False),  # pending, deployed, failed
    Column("reason", Text),
    Column("cycle_id", String(255)),
    Column("cycle_name", String(255)),
    Column("attempted_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("dm_channel", String(32)),
    Column("dm_ts", String(32)),
    Column("notify_channel", String(32)),
    Column("notify_ts", String(32)),
    UniqueConstraint("request_key", name="uq_cyclr_deploys_request_key"),
)
Index("ix_cyclr_deploys_state", deploys.c.state, deploys.c.created_at)
# One row per cycle (migration 0010): two deploys never claim the same cycle.
Index("uq_cyclr_deploys_cycle", deploys.c.account_id, deploys.c.cycle_id, unique=True)

#: One row per probe name, rewritten by ``Store.probe_write`` (``/healthz``).
heartbeat = Table(
    "cyclr_heartbeat",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("beat_at", DateTime(timezone=True), nullable=False),
)

#: ``/cyclr subscribe``: which channel hears of which account's cycle errors (or warnings too).
alert_subscriptions = Table(
    "cyclr_alert_subscriptions",
    metadata,
    Column("team_id", String(32), primary_key=True),
    Column("channel_id", String(32), primary_key=True),
    Column("account_id", String(255), primary_key=True),
    Column("level", String(16), nullable=False),  # errors, warnings (errors too)
    Column("subscribed_by", String(32), nullable=False),
    Column("subscribed_at", DateTime(timezone=True), nullable=False),
)

#: Per subscribed account: the incidents polling cursors, the webhook secret (its SHA-256 only)
#: and the webhook setting the bot replaced (restored by the last unsubscribe).
alert_accounts = Table(
    "cyclr_alert_accounts",
    metadata,
    Column("account_id", String(255), primary_key=True),
    Column("error_cursor", String(64)),
    Column("warning_cursor", String(64)),
    Column("since", DateTime(timezone=True), nullable=False),  # the first poll looks after this
    Column("secret_hash", String(64)),
    Column("webhook_saved", Boolean, nullable=False, server_default=false()),
    Column("previous_enabled", Boolean),
    Column("previous_url", Text),
    Column("previous_warnings", Boolean),
    UniqueConstraint("secret_hash", name="uq_cyclr_alert_accounts_secret_hash"),
)

#: One parent message per cycle and channel.
alert_threads = Table(
    "cyclr_alert_threads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_id", String(32), nullable=False),
    Column("account_id", String(255), nullable=False),
    Column("cycle_id", String(255), nullable=False),
    Column("cycle_name", String(255)),
    Column("parent_ts", String(32)),
    Column("told_at", DateTime(timezone=True)),  # the last time the thread was posted to
    UniqueConstraint("channel_id", "account_id", "cycle_id", name="uq_cyclr_alert_threads_cycle"),
)

#: Every incident a thread has seen: unique per transaction, so none is posted twice.
alert_events = Table(
    "cyclr_alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("thread_id", Integer, nullable=False),
    Column("transaction_id", String(255), nullable=False),
    Column("level", String(16), nullable=False),
    Column("step_name", String(255)),
    Column("message", Text, nullable=False),
    Column("detail", Text, nullable=False),  # redacted before it is stored
    Column("auth_failure", Boolean, nullable=False, server_default=false()),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("posted", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("thread_id", "transaction_id", name="uq_cyclr_alert_events_transaction"),
)
Index("ix_cyclr_alert_events_unposted", alert_events.c.thread_id, alert_events.c.posted)
