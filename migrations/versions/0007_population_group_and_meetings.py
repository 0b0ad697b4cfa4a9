"""referral_code.population_group and the group_meeting table

A worker may tag a referral with the client's population group (a short
tag from the settings' list); `MEET <participants>` records a group meeting.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral_code") as batch:
        batch.add_column(sa.Column("population_group", sa.String(length=16), nullable=True))
    op.create_table(
        "group_meeting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("meeting_date", sa.Date(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["worker_id"], ["worker.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_group_meeting_worker_id", "group_meeting", ["worker_id"])
    op.create_index("ix_group_meeting_meeting_date", "group_meeting", ["meeting_date"])


def downgrade() -> None:
    op.drop_index("ix_group_meeting_meeting_date", table_name="group_meeting")
    op.drop_index("ix_group_meeting_worker_id", table_name="group_meeting")
    op.drop_table("group_meeting")
    with op.batch_alter_table("referral_code") as batch:
        batch.drop_column("population_group")
