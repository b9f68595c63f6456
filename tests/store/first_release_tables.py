"""The first release's tables, frozen as of commit 2f83303: what an upgrade starts from."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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
    Column("told_state", String(16)),  # the state the DM and team notification last showed
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
    Column("ref", String(64), primary_key=True),
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
)
Index("ix_cyclr_link_refs_connector", links.c.account_id, links.c.account_connector_id)
