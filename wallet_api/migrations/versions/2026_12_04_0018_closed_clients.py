"""closed clients: when a client's account was closed, and when its personal fields were
replaced by a pseudonym

Issue 19. ``clients.closed_at``: the case manager closed the account (its remaining money went
to the organizer, its credentials, mandates and trusted providers ended); no charge finds the
client after it. ``clients.pseudonymised_at``: the retention prune replaced the client's and its
principal's personal fields after ``WALLET_RETENTION_CLOSED_CLIENT_YEARS``; the ids, accounts,
transfers and charges stay, so ``wallet check`` still proves the books. An index on
``closed_at`` lets that prune find the closed clients without reading every client. Plain
nullable columns: the same on both engines, no row rewritten.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "clients", sa.Column("pseudonymised_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index("ix_clients_closed", "clients", ["closed_at"])


def downgrade() -> None:
    op.drop_index("ix_clients_closed", table_name="clients")
    op.drop_column("clients", "pseudonymised_at")
    op.drop_column("clients", "closed_at")
