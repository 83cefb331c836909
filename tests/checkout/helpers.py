"""Small helpers for the checkout tests: requests, balances, direct reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from payments.db import Database
from payments.models import (
    Charge,
    Hold,
    PaymentRequest,
    PaymentToken,
    Transfer,
)
from payments.uow import UnitOfWork
from tests.factories import World, assert_books_ok, count, envelope
from tests.support.api import auth

CLEANING_2H = [{"category": "siivous", "quantity": "2", "unit_price_cents": 3500}]  # 70 EUR
HOME_HELP_2H = [{"category": "kotiapu", "quantity": "2", "unit_price_cents": 3800}]  # 76 EUR
HOME_HELP_1_5H = [{"category": "kotiapu", "quantity": "1.5", "unit_price_cents": 3800}]  # 57 EUR


def idem(key: str, **extra: str) -> dict[str, str]:
    return {"Idempotency-Key": key or str(uuid.uuid4()), **extra}


async def post(
    client: Any, url: str, key: str, body: Any, idem_key: str | None = None, **h: str
) -> Any:
    headers = auth(key, **h)
    headers["Idempotency-Key"] = idem_key or str(uuid.uuid4())
    return await client.post(url, json=body, headers=headers)


async def balance(db: Database, w: World) -> int:
    return (await envelope(db, w.wallet_id)).balance_cents


async def charges(db: Database) -> int:
    return await count(db, Charge)


async def transfer_kinds(db: Database) -> list[str]:
    async with UnitOfWork(db, readonly=True) as uow:
        return list(
            (await uow.session.execute(select(Transfer.kind).order_by(Transfer.id))).scalars()
        )


async def set_expiry(db: Database, model: Any, row_id: uuid.UUID | None, when: datetime) -> None:
    """Move a hold, request or token's deadline (to test expiry without waiting)."""
    async with UnitOfWork(db) as uow:
        stmt = update(model).values(expires_at=when)
        if row_id is not None:
            stmt = stmt.where(model.id == row_id)
        await uow.session.execute(stmt)
        await uow.commit()


async def hold_status(db: Database, hold_id: uuid.UUID) -> str:
    async with UnitOfWork(db, readonly=True) as uow:
        return str(
            (await uow.session.execute(select(Hold.status).where(Hold.id == hold_id))).scalar_one()
        )


async def request_status(db: Database, request_id: uuid.UUID) -> str:
    async with UnitOfWork(db, readonly=True) as uow:
        return str(
            (
                await uow.session.execute(
                    select(PaymentRequest.status).where(PaymentRequest.id == request_id)
                )
            ).scalar_one()
        )


__all__ = [
    "CLEANING_2H",
    "HOME_HELP_1_5H",
    "HOME_HELP_2H",
    "PaymentToken",
    "assert_books_ok",
    "balance",
    "charges",
    "hold_status",
    "idem",
    "post",
    "request_status",
    "set_expiry",
    "transfer_kinds",
]
