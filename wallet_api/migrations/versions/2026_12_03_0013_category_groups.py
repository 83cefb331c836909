"""catalogue: the groups a service category belongs to

``service_categories.groups``: the groups of services (palvelukokonaisuudet, for example
``omaishoito kotihoito``) a category belongs to, as space-separated codes in sorted order, the
way ``mandates.scopes`` keeps its scopes. A decision line funds a category or a group of
categories (DESIGN.md): the case manager's decision form picks a whole group at once. Written by
``wallet catalogue import``. A plain column with a server default: the same on both engines.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "service_categories",
        sa.Column("groups", sa.String(length=200), nullable=False, server_default=""),
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+ has it): a batch rebuild would drop and recreate a table
    # that other tables reference, which SQLite refuses while foreign keys are on.
    op.drop_column("service_categories", "groups")
