"""message.submitted_at: when the current attempt's gateway call began

A sender writes it (and commits) just before it calls the gateway, and
clears it when the call's result is stored. A claim whose process died with
it set died during the call: the gateway may have taken the message, so the
row is not sent again (it is settled `sent`, noted unconfirmed).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("submitted_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("submitted_at")
