"""The outbox: events written in the same transaction as the money movement they report.

The notifications package reads and delivers them after commit, at least once; ``event_id``
lets clients drop duplicates (money rule 6).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.models import OutboxEvent

# Every event type, in one place: payments writes them, notifications delivers them.
CHARGE_CAPTURED = "charge.captured"
REFUND_CREATED = "refund.created"
# A case manager corrected a charge of a closed month (payments.checkout.corrections).
CHARGE_CORRECTED = "charge.corrected"
ENVELOPE_FUNDED = "envelope.funded"
REMAINDER_EXPIRED = "remainder.expired"
PAYMENT_REQUESTED = "payment.requested"
PAYMENT_APPROVED = "payment.approved"
PAYMENT_DECLINED = "payment.declined"
PAYMENT_EXPIRED = "payment.expired"
PAYMENT_CANCELLED = "payment.cancelled"
HOLD_PLACED = "hold.placed"
HOLD_CAPTURED = "hold.captured"
HOLD_VOIDED = "hold.voided"
HOLD_EXPIRED = "hold.expired"
MANDATE_CHANGED = "mandate.changed"
BALANCE_LOW = "balance.low"
STATEMENT_READY = "statement.ready"  # a closed month's statement (payments.reporting.statements)
# What the bank said of a provider's payout (payments.marketplace.bank_files).
SETTLEMENT_PAID = "settlement.paid"
SETTLEMENT_REJECTED = "settlement.rejected"
# A case manager closed a client's account; its remaining money went to the organizer
# (payments.budgets.closing).
CLIENT_CLOSED = "client.closed"
# All of them, in this order: what an integration's webhook may subscribe to
# (``notifications.webhooks``); a name outside it is refused.
EVENT_TYPES = (
    CHARGE_CAPTURED,
    REFUND_CREATED,
    CHARGE_CORRECTED,
    ENVELOPE_FUNDED,
    REMAINDER_EXPIRED,
    PAYMENT_REQUESTED,
    PAYMENT_APPROVED,
    PAYMENT_DECLINED,
    PAYMENT_EXPIRED,
    PAYMENT_CANCELLED,
    HOLD_PLACED,
    HOLD_CAPTURED,
    HOLD_VOIDED,
    HOLD_EXPIRED,
    MANDATE_CHANGED,
    BALANCE_LOW,
    STATEMENT_READY,
    SETTLEMENT_PAID,
    SETTLEMENT_REJECTED,
    CLIENT_CLOSED,
)


def event_row(
    *,
    type: str,
    organizer_id: uuid.UUID,
    now: datetime,
    payload: dict[str, Any],
    wallet_id: uuid.UUID | None = None,
    provider_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """An outbox row, for :data:`INSERT_EVENT` (one, or many at once)."""
    return {
        "type": type,
        "organizer_id": organizer_id,
        "wallet_id": wallet_id,
        "provider_id": provider_id,
        "payload": payload,
        "created_at": now,
    }


async def emit(
    session: AsyncSession,
    *,
    type: str,
    organizer_id: uuid.UUID,
    now: datetime,
    payload: dict[str, Any],
    wallet_id: uuid.UUID | None = None,
    provider_id: uuid.UUID | None = None,
) -> None:
    await session.execute(
        INSERT_EVENT,
        event_row(
            type=type,
            organizer_id=organizer_id,
            now=now,
            payload=payload,
            wallet_id=wallet_id,
            provider_id=provider_id,
        ),
    )


# Built once on the table: every money movement writes an event, and building an ORM insert
# per call (statement, cache key, ORM DML path) cost more CPU than running it.
INSERT_EVENT = insert(cast(Table, OutboxEvent.__table__))
