"""Ledger primitives: post a transfer, debit or credit a constrained account.

A transfer moves ``amount`` from its debit account to its credit account. An account's balance
is its credits minus its debits. Only envelopes and holds keep that balance stored, and a debit
of one is a single conditional UPDATE, so two concurrent charges can never both spend the last
euro (money rule 3).

Every statement here is built once, at import, on the tables (not the ORM classes) and run with
bound parameters: the charge path calls these on every request, and building, cache-keying and
ORM-wrapping a fresh statement per call cost more CPU than executing it (py-spy,
docs/performance.md). ``session.execute`` still flushes pending ORM objects first.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.models import (
    EXPIRED,
    ORGANIZER_BUDGET,
    PROVIDER_PAYABLE,
    SETTLEMENT,
    Account,
    Transfer,
)

_accounts = cast(Table, Account.__table__)
_transfers = cast(Table, Transfer.__table__)
_acc = _accounts.c

_INSERT_TRANSFER = insert(_transfers)

_DEBIT_STORED = (
    update(_accounts)
    .where(_acc.id == bindparam("p_id"), _acc.balance_cents >= bindparam("p_amount"))
    .values(balance_cents=_acc.balance_cents - bindparam("p_amount"))
    .returning(_acc.balance_cents, _acc.funded_period)
)

_CREDIT_STORED = (
    update(_accounts)
    .where(_acc.id == bindparam("p_id"))
    .values(balance_cents=_acc.balance_cents + bindparam("p_amount"))
    .returning(_acc.balance_cents)
)

_CREDIT_OPEN_ENVELOPE = (
    update(_accounts)
    .where(
        _acc.id == bindparam("p_id"),
        _acc.funded_period == bindparam("p_period"),
        or_(_acc.expired_period.is_(None), _acc.expired_period < bindparam("p_period")),
    )
    .values(balance_cents=_acc.balance_cents + bindparam("p_amount"))
    .returning(_acc.balance_cents)
)

_ORGANIZER_ACCOUNT = select(_acc.id).where(
    and_(_acc.organizer_id == bindparam("p_org"), _acc.kind == bindparam("p_kind"))
)

_PROVIDER_PAYABLE = select(_acc.id).where(
    _acc.provider_id == bindparam("p_provider"), _acc.kind == PROVIDER_PAYABLE
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
        _INSERT_TRANSFER,
        {
            "organizer_id": organizer_id,
            "debit_account_id": debit_account_id,
            "credit_account_id": credit_account_id,
            "amount_cents": amount_cents,
            "kind": kind,
            "period": period,
            "charge_id": charge_id,
            "dedupe_key": dedupe_key,
            "created_at": now,
        },
    )


async def debit_stored(session: AsyncSession, account_id: int, amount_cents: int) -> int | None:
    """Take ``amount`` from an envelope or hold if it covers it; return the new balance.

    Returns None, and changes nothing, when the balance does not cover the amount.
    """
    result = await session.execute(_DEBIT_STORED, {"p_id": account_id, "p_amount": amount_cents})
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
    result = await session.execute(_DEBIT_STORED, {"p_id": account_id, "p_amount": amount_cents})
    row = result.first()
    if row is None or row[0] is None or row[1] is None:
        return None
    return int(row[0]), str(row[1])


async def credit_stored(session: AsyncSession, account_id: int, amount_cents: int) -> int:
    """Add ``amount`` to an envelope or hold; return the new balance."""
    result = await session.execute(_CREDIT_STORED, {"p_id": account_id, "p_amount": amount_cents})
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
        _CREDIT_OPEN_ENVELOPE, {"p_id": account_id, "p_amount": amount_cents, "p_period": period}
    )
    row = result.first()
    return None if row is None or row[0] is None else int(row[0])


# Which account is an organizer's budget or a provider's payable account never changes once
# created (accounts are never deleted, ids never reused), so each process remembers it: one
# round trip less per charge. Keyed by database URL as well, for processes with several.
_OWN_ACCOUNTS: dict[tuple[str, uuid.UUID, str], int] = {}
_OWN_ACCOUNTS_MAX = 100_000


def _db_key(session: AsyncSession) -> str:
    bind = session.bind
    return "" if bind is None else bind.sync_engine.url.render_as_string(hide_password=True)


def _remember(key: tuple[str, uuid.UUID, str], account_id: int) -> int:
    if len(_OWN_ACCOUNTS) >= _OWN_ACCOUNTS_MAX:
        _OWN_ACCOUNTS.clear()
    _OWN_ACCOUNTS[key] = account_id
    return account_id


async def organizer_account(session: AsyncSession, organizer_id: uuid.UUID, kind: str) -> int:
    """The id of one of the organizer's own accounts (budget, expired, settlement)."""
    assert kind in (ORGANIZER_BUDGET, EXPIRED, SETTLEMENT)
    key = (_db_key(session), organizer_id, kind)
    if key in _OWN_ACCOUNTS:
        return _OWN_ACCOUNTS[key]
    result = await session.execute(_ORGANIZER_ACCOUNT, {"p_org": organizer_id, "p_kind": kind})
    return _remember(key, int(result.scalar_one()))


async def provider_payable_account(session: AsyncSession, provider_id: uuid.UUID) -> int:
    key = (_db_key(session), provider_id, PROVIDER_PAYABLE)
    if key in _OWN_ACCOUNTS:
        return _OWN_ACCOUNTS[key]
    result = await session.execute(_PROVIDER_PAYABLE, {"p_provider": provider_id})
    return _remember(key, int(result.scalar_one()))
