"""array_accum(x): an array_agg that PostgreSQL can run in parallel workers

The redemption statistics collect, per group, the waits of its redeemed
codes in an array (their median is taken afterwards, group by group).
PostgreSQL 15's array_agg has no combine function, so a hash aggregate
using it runs in one process; array_accum appends like array_agg and
concatenates the workers' partial arrays (array_cat), so the scan and the
grouping of a million codes are shared by the parallel workers. Same
multiset of values as array_agg (the order inside an array is not kept;
the statistics sort it).

PostgreSQL only: SQLite computes its medians with window functions.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE AGGREGATE array_accum(anycompatible) ("
        "SFUNC = array_append, STYPE = anycompatiblearray, COMBINEFUNC = array_cat, PARALLEL = SAFE)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP AGGREGATE array_accum(anycompatible)")
