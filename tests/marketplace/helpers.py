"""Shared helpers for the marketplace tests: charges and refunds at chosen instants (UTC)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from payments.checkout.charges import ChargeLineInput, Customer, capture_charge, refund_charge
from payments.db import Database
from payments.models import Settlement, SettlementLine
from payments.uow import UnitOfWork
from tests.factories import World, at


def utc(period: str, day: int = 15, hour: int = 12) -> datetime:
    return at(period, day, hour).astimezone(UTC)


async def charge(
    db: Database,
    w: World,
    cents: int,
    when: datetime,
    *,
    category: str = "siivous",
    provider_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Charge exactly ``cents`` (cents/100 units at 1 EUR) for ``w``'s client by phone."""
    out = await capture_charge(
        db,
        provider_id=provider_id or w.provider_id,
        customer=Customer(phone_e164="+358401234567"),
        lines=[ChargeLineInput(category, Decimal(cents) / 100, 100)],
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
        now=when,
    )
    return uuid.UUID(out.body["id"])


async def refund(
    db: Database,
    w: World,
    charge_id: uuid.UUID,
    cents: int,
    when: datetime,
    *,
    provider_id: uuid.UUID | None = None,
) -> None:
    await refund_charge(
        db,
        provider_id=provider_id or w.provider_id,
        charge_id=charge_id,
        amount_cents=cents,
        reason="test",
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
        now=when,
    )


async def settlement_rows(db: Database) -> list[Any]:
    async with UnitOfWork(db, readonly=True) as uow:
        return list(
            (await uow.session.execute(select(Settlement).order_by(Settlement.created_at)))
            .scalars()
            .all()
        )


async def line_count(db: Database) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int((await uow.session.execute(select(func.count(SettlementLine.id)))).scalar_one())
