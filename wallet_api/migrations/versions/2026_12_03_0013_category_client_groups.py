"""catalogue: the client groups a service category is for

``service_categories.client_groups``: the client groups (asiakasryhmät, for example
``omaishoito kotihoito``) a service is meant for, as space-separated codes in sorted order,
the way ``mandates.scopes`` keeps its scopes. Empty for a service open to every client group.
It is written by ``wallet catalogue import`` and shown with the catalogue; nothing enforces it
at checkout yet. A plain column with a server default: the same on both engines.

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
        sa.Column("client_groups", sa.String(length=200), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("service_categories") as batch:
        batch.drop_column("client_groups")
