"""Shared helpers for the marketplace tests: instants in UTC, settlement rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from payments.db import Database
from payments.models import Settlement, SettlementLine
from payments.uow import UnitOfWork
from tests.factories import at


def utc(period: str, day: int = 15, hour: int = 12) -> datetime:
    return at(period, day, hour).astimezone(UTC)


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
