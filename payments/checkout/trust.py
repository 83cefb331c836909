"""Trusted providers: the client's "my providers" list and its caps (issues 4 and 13).

A trusted provider may take money by phone number or wallet id without asking each time,
within a per-charge cap and an optional monthly cap. Anyone else, or past a cap, asks: a
payment request, or the client's QR token or card.

**The month's total** (``month_spent_cents`` of ``month_period``) is what the client's wallet
paid or reserved for this provider in a calendar month in Helsinki, counted every way money
leaves an envelope for it, net of refunds and unused holds:

- a charge by phone number or wallet id counts, and is refused (or becomes a payment request)
  when it would pass either cap (:func:`use_trust`);
- a visit hold by phone number counts its whole held amount when it is placed, under the same
  two caps (:func:`hold_by_phone`); its capture keeps the captured part counted and gives back
  the rest; a void or expiry gives back all of it;
- consent counts without being refused (:func:`count_consented`): a charge or a visit hold
  with the client's QR token or code, or with a card and its PIN, and a payment request when
  it is approved (by phone or a provider's QR). A pending, declined, cancelled or expired
  request never counts: nobody agreed to it;
- a refund gives back what it returns (:func:`give_back`).

Each counted charge and hold records the month it counted in (``charges.trust_period``,
``holds.trust_period``; NULL when the provider was not trusted then). A refund or a release
lowers only that month's total, and only while the row still counts that month, so money of
an earlier month never makes room in this one; the total never goes below zero. The captured
part of a hold stays in the month the hold counted in, as it does on the statement.

The month is that of the moment of counting (the charge, the hold, the approval), not the
money's funded month: at 00:00 on the 1st a charge still spends last month's money until
funding runs, but counts in the new month. The total restarts with the first count of a new
month and never moves back to an earlier month, so a clock a moment behind another server's
at midnight cannot wipe out what the new month has counted.

Every count is one conditional UPDATE of the trusted row inside the money transaction, before
any envelope is touched (trust row, then envelopes: one lock order for every path), so two
concurrent charges or holds can never together pass the cap, and a refused charge leaves the
total as it was. The total counts from when the provider was trusted: removing it forgets the
total, and so does adding it again (only the people who may change its caps can do that).

Managed by the client, a carer with the ``manage-providers`` scope, or a case manager of the
organizer (the web layer checks who; these use cases check what).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    String,
    Table,
    Uuid,
    bindparam,
    case,
    delete,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from payments.clock import utcnow
from payments.db import Database
from payments.errors import ConsentRequired, InvalidInput, NotFound
from payments.ledger.periods import period_of
from payments.models import AuditEvent, Provider, TrustedProvider, Wallet
from payments.rows import BatchRows, PerEngine
from payments.uow import UnitOfWork

MAX_CAP_CENTS = 100_000_00  # 100,000 EUR: a typo guard, not a policy


@dataclass(frozen=True)
class Trusted:
    provider_id: uuid.UUID
    provider_name: str
    per_charge_cap_cents: int
    monthly_cap_cents: int | None
    month_spent_cents: int


def _check_cap(value: int | None, name: str) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_CAP_CENTS:
        raise InvalidInput(f"{name} must be a positive whole number of cents")


async def set_trusted(
    db: Database,
    *,
    actor_id: uuid.UUID,
    wallet_id: uuid.UUID,
    provider_id: uuid.UUID,
    per_charge_cap_cents: int,
    monthly_cap_cents: int | None = None,
) -> Trusted:
    """Add a provider to the wallet's trusted providers, or change its caps. Audited."""
    _check_cap(per_charge_cap_cents, "per_charge_cap_cents")
    _check_cap(monthly_cap_cents, "monthly_cap_cents")
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        wallet = await s.get(Wallet, wallet_id)
        provider = await s.get(Provider, provider_id)
        if wallet is None:
            raise NotFound("No such wallet")
        if provider is None or provider.organizer_id != wallet.organizer_id:
            raise NotFound("No such provider")
        row = (
            await s.execute(
                select(TrustedProvider).where(
                    TrustedProvider.wallet_id == wallet_id,
                    TrustedProvider.provider_id == provider_id,
                )
            )
        ).scalar_one_or_none()
        if row is None:
            row = TrustedProvider(
                organizer_id=wallet.organizer_id,
                wallet_id=wallet_id,
                provider_id=provider_id,
                per_charge_cap_cents=per_charge_cap_cents,
                monthly_cap_cents=monthly_cap_cents,
                month_spent_cents=0,
                created_by=actor_id,
                created_at=now,
            )
            s.add(row)
        else:
            row.per_charge_cap_cents = per_charge_cap_cents
            row.monthly_cap_cents = monthly_cap_cents
        s.add(
            AuditEvent(
                organizer_id=wallet.organizer_id,
                actor_id=actor_id,
                action="trusted_provider.set",
                subject_client_id=wallet.client_id,
                detail=f"provider {provider_id}: per charge {per_charge_cap_cents}, "
                f"monthly {monthly_cap_cents}",
                created_at=now,
            )
        )
        await uow.commit()
        return Trusted(
            provider_id,
            provider.name,
            per_charge_cap_cents,
            monthly_cap_cents,
            row.month_spent_cents,
        )


async def remove_trusted(
    db: Database, *, actor_id: uuid.UUID, wallet_id: uuid.UUID, provider_id: uuid.UUID
) -> None:
    """Take a provider off the wallet's trusted list at once. Audited."""
    async with UnitOfWork(db) as uow:
        s = uow.session
        wallet = await s.get(Wallet, wallet_id)
        if wallet is None:
            raise NotFound("No such wallet")
        result = await s.execute(
            delete(TrustedProvider).where(
                TrustedProvider.wallet_id == wallet_id, TrustedProvider.provider_id == provider_id
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound("This provider is not on the list")
        s.add(
            AuditEvent(
                organizer_id=wallet.organizer_id,
                actor_id=actor_id,
                action="trusted_provider.removed",
                subject_client_id=wallet.client_id,
                detail=f"provider {provider_id}",
                created_at=utcnow(),
            )
        )
        await uow.commit()


async def list_trusted(db: Database, wallet_id: uuid.UUID) -> list[Trusted]:
    period = period_of(utcnow())
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(TrustedProvider, Provider.name)
                .join(Provider, Provider.id == TrustedProvider.provider_id)
                .where(TrustedProvider.wallet_id == wallet_id)
                .order_by(Provider.name)
            )
        ).all()
    return [
        Trusted(
            t.provider_id,
            name,
            t.per_charge_cap_cents,
            t.monthly_cap_cents,
            t.month_spent_cents if t.month_period == period else 0,
        )
        for t, name in rows
    ]


async def use_trust(
    s: AsyncSession, wallet_id: uuid.UUID, provider_id: uuid.UUID, total: int, now: datetime
) -> str | None:
    """Count ``total`` against the provider's caps if it fits, for money taken without asking
    (a charge or a visit hold by phone number or wallet id).

    Returns the month the total counted in (record it on the charge or hold, so that a refund
    or a release gives it back to that month only), or None: not trusted, above the per-charge
    cap, or past the month's cap; then nothing was counted and the caller must ask.

    One conditional UPDATE checks the per-charge cap and the month's cap and advances the
    total, in the caller's money transaction: of two concurrent charges or holds that each fit
    but not together, the second waits for the first's row lock, sees its total, and fails.
    """
    row = (
        await s.execute(
            _USE_TRUST,
            {
                "p_wallet": wallet_id,
                "p_provider": provider_id,
                "p_total": total,
                "p_period": period_of(now),
            },
        )
    ).first()
    return None if row is None else str(row[0])


async def count_consented(
    s: AsyncSession, wallet_id: uuid.UUID, provider_id: uuid.UUID, total: int, now: datetime
) -> str | None:
    """Add money the client agreed to (QR token, card + PIN, an approved payment request, a
    visit hold placed with either) to a trusted provider's month, checking no cap: consent is
    never refused by a cap, but the provider then has that much less to take without asking.

    Returns the month it counted in, or None when the provider is not trusted (nothing to
    count). The same single UPDATE as :func:`use_trust`, without the cap conditions.
    """
    row = (
        await s.execute(
            _COUNT,
            {
                "p_wallet": wallet_id,
                "p_provider": provider_id,
                "p_total": total,
                "p_period": period_of(now),
            },
        )
    ).first()
    return None if row is None else str(row[0])


async def give_back(
    s: AsyncSession, wallet_id: uuid.UUID, provider_id: uuid.UUID, amount: int, period: str
) -> None:
    """Lower ``period``'s total by ``amount``: a refund, or the unused part of a hold that
    counted (released at capture, void or expiry).

    Only while the row still counts that month: money counted last month never makes room in
    this one. Never below zero (the total may have restarted since, when the provider was
    removed and trusted again). Call it before touching envelopes: trust row, then envelopes,
    is the lock order of every money path.
    """
    if amount <= 0:
        return
    await s.execute(
        _GIVE_BACK,
        {"p_wallet": wallet_id, "p_provider": provider_id, "p_amount": amount, "p_period": period},
    )


async def hold_by_phone(
    s: AsyncSession, wallet_id: uuid.UUID, provider_id: uuid.UUID, total: int, now: datetime
) -> str:
    """A hold by phone number needs a trusted provider within its per-charge cap and its
    month's cap, and counts at once (:func:`use_trust`). Past a cap it is refused with the
    answer an untrusted provider and an unknown number get (``consent-required``: ask the
    client instead). Returns the month the hold counted in."""
    counted = await use_trust(s, wallet_id, provider_id, total, now)
    if counted is None:
        raise ConsentRequired()
    return counted


# Built once with bound parameters: every charge and hold runs one of them (the ``p_`` names
# keep clear of the column names, which an UPDATE would take as SET values).
#
# The month only moves forward: a month after the stored one restarts the total at this
# amount; the stored month itself (or, from a clock a moment behind another server's at
# midnight, an earlier one) adds to the stored month's total. So a late 23:59:59 charge cannot
# restart the total at January and wipe out what February has already counted.
_T = cast(Table, TrustedProvider.__table__)
_P_PERIOD = bindparam("p_period", type_=String)
_P_TOTAL = bindparam("p_total", type_=BigInteger)


def _counted(total: Any) -> dict[str, Any]:
    """The trusted row's month after counting ``total`` in it (the SET of every count)."""
    new_month = or_(_T.c.month_period.is_(None), _T.c.month_period < _P_PERIOD)
    return {
        "month_spent_cents": case((new_month, total), else_=_T.c.month_spent_cents + total),
        "month_period": case((new_month, _P_PERIOD), else_=_T.c.month_period),
    }


def _within_caps(total: Any) -> tuple[Any, ...]:
    """A count without asking fits the per-charge cap and, after it, the month's cap."""
    return (
        _T.c.per_charge_cap_cents >= total,
        or_(
            _T.c.monthly_cap_cents.is_(None),
            _counted(total)["month_spent_cents"] <= _T.c.monthly_cap_cents,
        ),
    )


_THIS_ROW = (
    _T.c.wallet_id == bindparam("p_wallet"),
    _T.c.provider_id == bindparam("p_provider"),
)
_COUNT = update(_T).where(*_THIS_ROW).values(_counted(_P_TOTAL)).returning(_T.c.month_period)
_USE_TRUST = (
    update(_T)
    .where(*_THIS_ROW, *_within_caps(_P_TOTAL))
    .values(_counted(_P_TOTAL))
    .returning(_T.c.month_period)
)
_P_AMOUNT = bindparam("p_amount", type_=BigInteger)
_GIVE_BACK = (
    update(_T)
    .where(*_THIS_ROW, _T.c.month_period == _P_PERIOD)
    .values(
        month_spent_cents=case(
            (_T.c.month_spent_cents > _P_AMOUNT, _T.c.month_spent_cents - _P_AMOUNT), else_=0
        )
    )
)


def _use_trust_many_statement(dialect: Dialect) -> tuple[BatchRows, Any]:
    """:data:`_USE_TRUST` over a batch's rows (payments.rows), built once per engine."""
    rows = BatchRows(dialect, "v", wallet_id=Uuid(), provider_id=Uuid(), total=BigInteger())
    v = rows.table.c
    return rows, (
        update(_T)
        .where(
            _T.c.wallet_id == v.wallet_id,
            _T.c.provider_id == v.provider_id,
            *_within_caps(v.total),
        )
        .values(_counted(v.total))
        .returning(_T.c.wallet_id, _T.c.provider_id, _T.c.month_period)
    )


_USE_MANY = PerEngine(_use_trust_many_statement)


def lock_many_statement(dialect: Dialect) -> tuple[BatchRows, Any]:
    """The trusted rows of a batch's (wallet, provider) pairs with their months, locked in the
    pairs' order: :func:`lock_many`'s statement (the group commit also runs it inside the one
    statement that takes all its locks, :mod:`payments.checkout.pipeline`)."""
    pairs = BatchRows(dialect, "pairs", wallet_id=Uuid(), provider_id=Uuid())
    return pairs, (
        select(_T.c.wallet_id, _T.c.provider_id, _T.c.month_spent_cents, _T.c.month_period)
        .where(pairs.has(_T.c.wallet_id, _T.c.provider_id))
        .order_by(_T.c.wallet_id, _T.c.provider_id)
        .with_for_update()
    )


_LOCK_MANY = PerEngine(lock_many_statement)


@dataclass(frozen=True)
class TrustRow:
    """A trusted row's month as it stood before a batch counted in it (to put it back)."""

    wallet_id: uuid.UUID
    provider_id: uuid.UUID
    month_spent_cents: int
    month_period: str | None


async def lock_many(
    s: AsyncSession, pairs: set[tuple[uuid.UUID, uuid.UUID]]
) -> dict[tuple[uuid.UUID, uuid.UUID], TrustRow]:
    """Lock the trusted rows of (wallet, provider) pairs in one order, and read their months:
    the group commit's first lock (trust rows, then envelopes: the order of every money path).
    SQLite has one writer at a time and ignores ``FOR UPDATE``."""
    if not pairs:
        return {}
    asked, stmt = _LOCK_MANY.of(s)
    rows = (await s.execute(stmt, asked.bind(sorted(pairs)))).all()
    return {(w, p): TrustRow(w, p, int(spent), period) for w, p, spent, period in rows}


async def use_trust_many(
    s: AsyncSession, totals: dict[tuple[uuid.UUID, uuid.UUID], int], now: datetime
) -> dict[tuple[uuid.UUID, uuid.UUID], str]:
    """:func:`use_trust` for many (wallet, provider) pairs in one statement, each pair once:
    {pair: the month it counted in} for the totals that fit the caps; a pair missing from the
    answer was not counted (not trusted, or past a cap) and must ask. The same conditions as
    :data:`_USE_TRUST`, on the batch's rows (:mod:`payments.rows`)."""
    if not totals:
        return {}
    rows, stmt = _USE_MANY.of(s)
    params = {
        **rows.bind([(w, p, total) for (w, p), total in sorted(totals.items())]),
        "p_period": period_of(now),
    }
    return {(w, p): str(month) for w, p, month in (await s.execute(stmt, params)).all()}


async def put_back_many(s: AsyncSession, rows: list[TrustRow]) -> None:
    """Put rows locked by :func:`lock_many` back as they were: the months of a batch's charges
    that counted and were then refused (no money), as a rollback would."""
    if rows:
        await s.execute(
            _PUT_BACK,
            [
                {
                    "p_wallet": r.wallet_id,
                    "p_provider": r.provider_id,
                    "p_spent": r.month_spent_cents,
                    "p_month": r.month_period,
                }
                for r in rows
            ],
        )


_PUT_BACK = (
    update(_T)
    .where(*_THIS_ROW)
    .values(
        month_spent_cents=bindparam("p_spent", type_=BigInteger),
        month_period=bindparam("p_month", type_=String),
    )
)
