"""outbox undelivered: partial indexes of the rows still owed, for the dispatcher's round

Issue 21. The dispatcher's round claims undelivered rows in id order and checks each claimed
wallet for an earlier undelivered row. The index on ``(delivered_at, id)`` held every row ever
written, and without fresh statistics PostgreSQL walked the primary key instead, from the first
row, filtering out the delivered ones: 1-2 ms a round after 2,000 charges, growing with the
table (auto_explain under bench.run). Partial indexes of the undelivered rows hold only what is
owed (a few dozen rows under load), so both reads stay a few index entries whatever the history
and the statistics. The same on both engines; no row rewritten.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNDELIVERED = {
    "postgresql_where": sa.text("delivered_at IS NULL"),
    "sqlite_where": sa.text("delivered_at IS NULL"),
}


def upgrade() -> None:
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    op.create_index("ix_outbox_undelivered", "outbox", ["id"], **_UNDELIVERED)
    op.create_index("ix_outbox_undelivered_wallet", "outbox", ["wallet_id", "id"], **_UNDELIVERED)


def downgrade() -> None:
    op.drop_index("ix_outbox_undelivered_wallet", table_name="outbox")
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    op.create_index("ix_outbox_undelivered", "outbox", ["delivered_at", "id"])
