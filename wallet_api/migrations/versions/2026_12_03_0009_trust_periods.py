"""trust periods: the month a charge or hold counted in toward a trusted provider's cap

A trusted provider's monthly total now counts every way money leaves for it (holds and their
captures, consented and approved payments), and refunds and unused holds lower it again, but
only in the month they counted in. Charges and holds remember that month. Rows from before
stay NULL: refunding them gives nothing back (at worst the month of the upgrade keeps a total
a little too high, which only asks the client more often).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("charges") as batch:
        batch.add_column(sa.Column("trust_period", sa.String(length=7), nullable=True))
    with op.batch_alter_table("holds") as batch:
        batch.add_column(sa.Column("trust_period", sa.String(length=7), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("holds") as batch:
        batch.drop_column("trust_period")
    with op.batch_alter_table("charges") as batch:
        batch.drop_column("trust_period")
