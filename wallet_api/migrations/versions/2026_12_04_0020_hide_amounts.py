"""hide amounts: amounts on the lock screen are hidden unless the person chose to show them

Issue 19, item 5. Until now a stored preference defaulted to showing amounts
(``hide_amounts = false``), and the settings screen saved the default along with whatever else
the person changed, so a stored ``false`` is not a choice anyone can be said to have made. The
new default hides them; this turns every stored ``false`` into ``true``. A person who had
chosen to see amounts turns the switch off again (docs/privacy.md says so).

No downgrade of the data: which rows were ``false`` before cannot be told afterwards, and
hiding amounts is the safe reading under either revision.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        sa.text("UPDATE notification_preferences SET hide_amounts = :hidden").bindparams(
            hidden=True
        )
    )


def downgrade() -> None:
    """Nothing to undo: the rows stay hidden (see the module doc)."""
