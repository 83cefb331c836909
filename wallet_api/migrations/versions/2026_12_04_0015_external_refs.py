"""external references: the county's own ids of clients and decisions

``wallet import clients`` (and the case manager's import screen) bring clients and their
budget decisions from the county's client information system. Each row names the client, and
its decision, by the county's own reference; a second import finds them by it and adds
nothing. ``clients.external_ref`` and ``decisions.external_ref`` are unique per organizer
(NULL, a client or decision made by hand, may repeat). Plain nullable columns and indexes: the
same on both engines, no row rewritten.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("clients", "decisions"):
        op.add_column(table, sa.Column("external_ref", sa.String(length=64), nullable=True))
        op.create_index(
            op.f(f"ix_{table}_external_ref"), table, ["organizer_id", "external_ref"], unique=True
        )


def downgrade() -> None:
    for table in ("clients", "decisions"):
        op.drop_index(op.f(f"ix_{table}_external_ref"), table_name=table)
        op.drop_column(table, "external_ref")
