"""api_key: expiry, revocation time, one key per name

Keys that shared a name keep the oldest one's name; the others get
` (#id)` appended, so the audit actor `key:<name>` names one key.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.models import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("revoked_at", UTCDateTime(), nullable=True))
    bind = op.get_bind()
    keys = sa.table("api_key", sa.column("id", sa.Integer), sa.column("name", sa.String))
    seen: set[str] = set()
    for key_id, name in bind.execute(sa.select(keys.c.id, keys.c.name).order_by(keys.c.id)).all():
        if name in seen:
            bind.execute(keys.update().where(keys.c.id == key_id).values(name=f"{name[:110]} (#{key_id})"))
        seen.add(name)
    op.create_index("uq_api_key_name", "api_key", ["name"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_api_key_name", table_name="api_key")
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
