"""Ledger primitives: post a transfer, debit or credit a constrained account.

A transfer moves ``amount`` from its debit account to its credit account. An account's balance
is its credits minus its debits. Only envelopes and holds keep that balance stored, and a debit
of one is a single conditional UPDATE, so two concurrent charges can never both spend the last
euro (money rule 3).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.models import (
    EXPIRED,
    ORGANIZER_BUDGET,
    PROVIDER_PAYABLE,
    SETTLEMENT,
    Account,
    Transfer,
)


async def post_transfer(
    session: AsyncSession,
    *,
    organizer_id: uuid.UUID,
    debit_account_id: int,
    credit_account_id: int,
    amount_cents: int,
    kind: str,
    period: str,
    now: datetime,
    charge_id: uuid.UUID | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Append one immutable transfer row. Stored balances are adjusted by the caller."""
    if amount_cents <= 0:
        raise ValueError("a transfer moves a positive amount")
    await session.execute(
        insert(Transfer).values(
            organizer_id=organizer_id,
            debit_account_id=debit_account_id,
            credit_account_id=credit_account_id,
            amount_cents=amount_cents,
            kind=kind,
            period=period,
            charge_id=charge_id,
            dedupe_key=dedupe_key,
            created_at=now,
        )
    )


async def debit_stored(session: AsyncSession, account_id: int, amount_cents: int) -> int | None:
    """Take ``amount`` from an envelope or hold if it covers it; return the new balance.

    Returns None, and changes nothing, when the balance does not cover the amount.
    """
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id, Account.balance_cents >= amount_cents)
        .values(balance_cents=Account.balance_cents - amount_cents)
        .returning(Account.balance_cents)
    )
    row = result.first()
    return None if row is None or row[0] is None else int(row[0])


async def debit_envelope(
    session: AsyncSession, account_id: int, amount_cents: int
) -> tuple[int, str] | None:
    """Take ``amount`` from an envelope if it covers it: (new balance, the month the money
    belongs to), or None and nothing changed.

    The month is read in the debiting statement itself. Read earlier, a charge that waited
    behind a midnight funding batch would book the new month's money to the old month.
    """
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id, Account.balance_cents >= amount_cents)
        .values(balance_cents=Account.balance_cents - amount_cents)
        .returning(Account.balance_cents, Account.funded_period)
    )
    row = result.first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return int(row[0]), str(row[1])


async def credit_stored(session: AsyncSession, account_id: int, amount_cents: int) -> int:
    """Add ``amount`` to an envelope or hold; return the new balance."""
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(balance_cents=Account.balance_cents + amount_cents)
        .returning(Account.balance_cents)
    )
    balance = result.scalar_one()
    assert balance is not None, "only envelopes and holds keep a stored balance"
    return int(balance)


async def credit_open_envelope(
    session: AsyncSession, account_id: int, amount_cents: int, period: str
) -> int | None:
    """Give ``amount`` back to an envelope if its month ``period`` is still open; return the new
    balance, or None (and change nothing) once funding has closed that month.

    The month is open while the envelope is funded for ``period`` and that month has not been
    expired. Checked in the updating statement, so a funding run that closes the month at the
    same time is either waited for or comes after.
    """
    result = await session.execute(
        update(Account)
        .where(
            Account.id == account_id,
            Account.funded_period == period,
            or_(Account.expired_period.is_(None), Account.expired_period < period),
        )
        .values(balance_cents=Account.balance_cents + amount_cents)
        .returning(Account.balance_cents)
    )
    row = result.first()
    return None if row is None or row[0] is None else int(row[0])


async def organizer_account(session: AsyncSession, organizer_id: uuid.UUID, kind: str) -> int:
    """The id of one of the organizer's own accounts (budget, expired, settlement)."""
    assert kind in (ORGANIZER_BUDGET, EXPIRED, SETTLEMENT)
    result = await session.execute(
        select(Account.id).where(Account.organizer_id == organizer_id, Account.kind == kind)
    )
    return int(result.scalar_one())


async def provider_payable_account(session: AsyncSession, provider_id: uuid.UUID) -> int:
    result = await session.execute(
        select(Account.id).where(
            Account.provider_id == provider_id, Account.kind == PROVIDER_PAYABLE
        )
    )
    return int(result.scalar_one())
