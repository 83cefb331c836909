"""card audit subject: a card's PIN and status changes name the client they concern

A QR card's issue was audited under its client (``subject_client_id``), but a PIN set, an unlock
and a revocation named only the card (``detail = 'card <number>'``), so a case manager's view of
one client's audit trail (``GET /api/audit?client_id=``) left them out. The code now writes the
client; this fills it in on the rows written before, from the card's wallet. Data only: the
downgrade leaves the rows as they are (which ones were empty cannot be told).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The same SQL on both engines: a correlated subquery, and || for the card's detail text.
    op.execute(
        """
        UPDATE audit_events
        SET subject_client_id = (
            SELECT wallets.client_id
            FROM qr_cards JOIN wallets ON wallets.id = qr_cards.wallet_id
            WHERE 'card ' || qr_cards.card_number = audit_events.detail
              AND qr_cards.organizer_id = audit_events.organizer_id
        )
        WHERE audit_events.action LIKE 'card.%'
          AND audit_events.subject_client_id IS NULL
        """
    )


def downgrade() -> None:
    pass
