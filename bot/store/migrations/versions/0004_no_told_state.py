"""``told_state`` goes: an install's messages are brought up to date by a job in the queue,
which is retried until done, instead of by a catch-up pass comparing states."""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cyclr_installs") as batch:
        batch.drop_column("told_state")
