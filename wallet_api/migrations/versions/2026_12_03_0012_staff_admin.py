"""staff: an admin right for case managers, and removed people

``principals.admin``: a case manager who may invite, re-role and remove the organizer's staff
(the first one is made from the command line, ``wallet invite --role admin``).
``principals.removed_at``: a person who was removed (a case manager who left, a provider's
staff member). A removed person cannot sign in or use an API key; the row stays, because
transfers, decisions and the audit trail name it. Plain columns: the same on both engines.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "principals",
        sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("principals", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ has it): a batch rebuild would drop and recreate a table
    # that other tables reference, which SQLite refuses while foreign keys are on.
    op.drop_column("principals", "removed_at")
    op.drop_column("principals", "admin")
