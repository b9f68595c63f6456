"""One deploy row per cycle: a cycle found while reconciling a lost answer cannot be claimed
by a second deploy of the same template (the fault suite found two rows sharing a cycle)."""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_cyclr_deploys_cycle", table_name="cyclr_deploys")
    # NULL cycle ids (pending and failed rows) are distinct from each other.
    op.create_index("uq_cyclr_deploys_cycle", "cyclr_deploys", ["account_id", "cycle_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_cyclr_deploys_cycle", table_name="cyclr_deploys")
    op.create_index("ix_cyclr_deploys_cycle", "cyclr_deploys", ["account_id", "cycle_id"])
