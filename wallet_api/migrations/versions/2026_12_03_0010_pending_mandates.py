"""mandates wait for the carer: accepted_at and declined_at

A client's mandate to an existing carer no longer takes effect when it is written: it waits
(``accepted_at`` NULL) until the carer accepts it, or declines it (``declined_at``, with
``revoked_at``). Mandates that exist already were in force under the old rules; they are
marked accepted now, so nobody loses a wallet they follow. Plain nullable columns and one
UPDATE: the same on SQLite and PostgreSQL.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("mandates", sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("mandates", sa.Column("declined_at", sa.DateTime(timezone=True), nullable=True))
    mandates = sa.table("mandates", sa.column("accepted_at", sa.DateTime(timezone=True)))
    # An aware UTC instant bound through the column's type, so each engine stores it as the
    # models do (SQLite's CURRENT_TIMESTAMP text, or a server-zone cast, could differ).
    op.execute(mandates.update().values(accepted_at=datetime.now(UTC)))


def downgrade() -> None:
    # A pending mandate would come into force under the old rules: drop the waiting ones first.
    op.execute("DELETE FROM mandates WHERE accepted_at IS NULL AND revoked_at IS NULL")
    with op.batch_alter_table("mandates") as batch:
        batch.drop_column("declined_at")
        batch.drop_column("accepted_at")
