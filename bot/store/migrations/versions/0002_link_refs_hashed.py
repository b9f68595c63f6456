"""Link refs are stored as SHA-256 hashes, armed by their owner's click, with a return id apart.

Existing rows are kept with their refs hashed, so links already in DMs still open; the
plain refs leave the database.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COPIED = (
    "team_id, user_id, account_id, account_connector_id, connector_name, install_id,"
    " created_at, expires_at, revoked_at, dm_channel, dm_ts, authenticated_at"
)


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "cyclr_link_refs_v2",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ref_hash", sa.String(64), nullable=False),
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
        sa.Column("armed_until", tz),
        sa.Column("minted_at", tz),
        sa.Column("return_hash", sa.String(64)),
        sa.UniqueConstraint("ref_hash", name="uq_cyclr_link_refs_ref_hash"),
        sa.UniqueConstraint("return_hash", name="uq_cyclr_link_refs_return_hash"),
    )
    conn = op.get_bind()
    copied: list[sa.ColumnClause[Any]] = [sa.column(name.strip()) for name in _COPIED.split(",")]
    old = sa.table("cyclr_link_refs", sa.column("ref"), *copied)
    new = sa.table("cyclr_link_refs_v2", sa.column("ref_hash"), *(sa.column(c.name) for c in copied))
    rows = [dict(row._mapping) for row in conn.execute(sa.select(old))]
    for row in rows:
        row["ref_hash"] = hashlib.sha256(row.pop("ref").encode()).hexdigest()
    if rows:
        conn.execute(sa.insert(new), rows)
    op.drop_index("ix_cyclr_link_refs_connector", table_name="cyclr_link_refs")
    op.drop_table("cyclr_link_refs")
    op.rename_table("cyclr_link_refs_v2", "cyclr_link_refs")
    op.create_index("ix_cyclr_link_refs_connector", "cyclr_link_refs", ["account_id", "account_connector_id"])
