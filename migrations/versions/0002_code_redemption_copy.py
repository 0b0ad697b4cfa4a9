"""referral_code.redeemed_at / redeemed_clinic_id, for the statistics

Statistics over a million codes must not join every code to its redemption:
the redemption's time and clinic are kept on the code itself, written by the
conditional UPDATE that redeems it (`app.domain.codes.redeem_code`, in the
same transaction as the `redemption` row). Existing rows are backfilled,
and redeemed_at is indexed for the indicators.

No trigger: the one place that redeems writes both, in code; and a trigger
on `redemption` naming `referral_code` would make every later SQLite batch
migration of `referral_code` fail (the table is dropped and renamed, and
SQLite refuses the rename while a trigger names the missing table).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.models

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("referral_code", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redeemed_at", app.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("redeemed_clinic_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_referral_code_redeemed_at"), ["redeemed_at"], unique=False)

    op.execute(
        "UPDATE referral_code SET "
        "redeemed_at = (SELECT r.redeemed_at FROM redemption r WHERE r.code_id = referral_code.id), "
        "redeemed_clinic_id = (SELECT r.clinic_id FROM redemption r WHERE r.code_id = referral_code.id) "
        "WHERE EXISTS (SELECT 1 FROM redemption r WHERE r.code_id = referral_code.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("referral_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_code_redeemed_at"))
        batch_op.drop_column("redeemed_clinic_id")
        batch_op.drop_column("redeemed_at")
