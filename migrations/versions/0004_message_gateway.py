"""message.gateway: which gateway a message came in by or went out through

An inbound SMS is deduplicated by (gateway, the gateway's message id), no
longer by the gateway's id alone: two gateways may number their messages
alike. Inbound rows stored before came in by the Africa's Talking webhook
(the only inbound route until now; the simulator posts to it too).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _without_external_id_unique(bind) -> sa.Table:
    """The message table as it is, minus the unique constraint on
    external_id (SQLite's is unnamed: a batch copy can only leave it out)."""
    table = sa.Table("message", sa.MetaData(), autoload_with=bind)
    for constraint in list(table.constraints):
        if isinstance(constraint, sa.UniqueConstraint) and [c.name for c in constraint.columns] == ["external_id"]:
            table.constraints.remove(constraint)
    return table


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("message", copy_from=_without_external_id_unique(bind), recreate="always") as batch:
            batch.add_column(sa.Column("gateway", sa.String(length=24), nullable=True))
    else:
        op.drop_constraint("message_external_id_key", "message", type_="unique")
        op.add_column("message", sa.Column("gateway", sa.String(length=24), nullable=True))
    op.execute("UPDATE message SET gateway = 'africastalking' WHERE direction = 'in' AND external_id IS NOT NULL")
    op.create_index("uq_message_gateway_external_id", "message", ["gateway", "external_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_message_gateway_external_id", table_name="message")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("gateway")
        batch.create_unique_constraint("message_external_id_key", ["external_id"])
