"""referral_code.redeemed_at / redeemed_clinic_id, kept by a trigger

Statistics over a million codes must not join every code to its redemption:
the redemption's time and clinic are copied onto the code by a trigger on
INSERT INTO redemption (so every path that redeems keeps them, in the same
transaction), existing rows are backfilled, and redeemed_at is indexed for
the indicators.

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

_COPY = (
    "UPDATE referral_code SET redeemed_at = NEW.redeemed_at, redeemed_clinic_id = NEW.clinic_id "
    "WHERE id = NEW.code_id"
)


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
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION referral_code_copy_redemption() RETURNS trigger AS $$ "
            f"BEGIN {_COPY}; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER redemption_copies_to_code AFTER INSERT ON redemption "
            "FOR EACH ROW EXECUTE FUNCTION referral_code_copy_redemption()"
        )
    else:
        op.execute(
            "CREATE TRIGGER redemption_copies_to_code AFTER INSERT ON redemption "
            f"FOR EACH ROW BEGIN {_COPY}; END"
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS redemption_copies_to_code" + (
        " ON redemption" if op.get_bind().dialect.name == "postgresql" else ""
    ))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS referral_code_copy_redemption()")
    with op.batch_alter_table("referral_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_code_redeemed_at"))
        batch_op.drop_column("redeemed_clinic_id")
        batch_op.drop_column("redeemed_at")
