"""client lookups: indexes on principals.client_id and mandates.client_id

Issue 21. The outbox dispatcher's round finds, for every wallet a charge moved, the client's own
principal and the carers who follow it (notifications.rules). Neither table had an index that
starts with ``client_id`` (the mandates' unique key starts with the carer), so each round read
every principal and every mandate: a county's whole staff and clients for each charge. Plain
indexes, the same on both engines, no row rewritten.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_principals_client", "principals", ["client_id"])
    op.create_index("ix_mandates_client", "mandates", ["client_id"])


def downgrade() -> None:
    op.drop_index("ix_mandates_client", table_name="mandates")
    op.drop_index("ix_principals_client", table_name="principals")
