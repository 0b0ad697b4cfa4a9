"""peer coupons: service.peer_coupons, coupon_services and max_waves;
referral_code.parent_code_id, wave and coupons_issued_at

A client whose code is redeemed may get peer coupons (codes to pass on),
each linked to its parent code; the chain's depth is the wave.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("service") as batch:
        batch.add_column(sa.Column("peer_coupons", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("coupon_services", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("max_waves", sa.Integer(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "sqlite":
        # the column and its REFERENCES in one ALTER: a batch would rebuild
        # referral_code, which the rows referring to it (redemptions,
        # reminders...) forbid while foreign keys are enforced
        op.execute(
            "ALTER TABLE referral_code ADD COLUMN parent_code_id INTEGER REFERENCES referral_code (id)"
        )
    else:
        op.add_column(
            "referral_code",
            sa.Column(
                "parent_code_id",
                sa.Integer(),
                sa.ForeignKey("referral_code.id", name="fk_referral_code_parent_code_id"),
                nullable=True,
            ),
        )
    with op.batch_alter_table("referral_code") as batch:
        batch.add_column(sa.Column("wave", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("coupons_issued_at", UTCDateTime(), nullable=True))
        batch.create_index("ix_referral_code_parent_code_id", ["parent_code_id"])


def downgrade() -> None:
    # dropping parent_code_id drops its foreign key too (SQLite: the batch rebuilds the table)
    with op.batch_alter_table("referral_code") as batch:
        batch.drop_index("ix_referral_code_parent_code_id")
        batch.drop_column("coupons_issued_at")
        batch.drop_column("wave")
        batch.drop_column("parent_code_id")
    with op.batch_alter_table("service") as batch:
        batch.drop_column("max_waves")
        batch.drop_column("coupon_services")
        batch.drop_column("peer_coupons")
