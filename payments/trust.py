"""Trusted providers: the client's "my providers" list and its caps (issue 4).

A trusted provider may charge by phone number without asking each time, within a per-charge
cap and an optional monthly cap. The monthly total is advanced by one conditional UPDATE in the
charge's own transaction, so two concurrent charges can never together pass the cap.
Managed by the client, a carer with the ``manage-providers`` scope, or a case manager of the
organizer (the web layer checks who; these use cases check what).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, String, Table, bindparam, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.checkout_models import TrustedProvider
from payments.db import Database
from payments.errors import InvalidInput, NotFound, NotInBudget
from payments.models import AuditEvent, Provider, Wallet
from payments.periods import period_of, utcnow
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
) -> bool:
    """Count ``total`` against the provider's caps if it fits: True means "charge at once".

    One conditional UPDATE: the per-charge cap, and the month's running total restarted when
    the month has changed, checked and advanced in the same statement.
    """
    result = await s.execute(
        _USE_TRUST,
        {
            "p_wallet": wallet_id,
            "p_provider": provider_id,
            "p_total": total,
            "p_period": period_of(now),
        },
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Built once with bound parameters: every charge by phone number or wallet id runs it (the
# ``p_`` names keep clear of the column names, which an UPDATE would take as SET values).
_T = cast(Table, TrustedProvider.__table__)
_SPENT_AFTER = case(
    (
        _T.c.month_period == bindparam("p_period", type_=String),
        _T.c.month_spent_cents + bindparam("p_total", type_=BigInteger),
    ),
    else_=bindparam("p_total", type_=BigInteger),
)
_USE_TRUST = (
    update(_T)
    .where(
        _T.c.wallet_id == bindparam("p_wallet"),
        _T.c.provider_id == bindparam("p_provider"),
        _T.c.per_charge_cap_cents >= bindparam("p_total", type_=BigInteger),
        or_(_T.c.monthly_cap_cents.is_(None), _SPENT_AFTER <= _T.c.monthly_cap_cents),
    )
    .values(month_spent_cents=_SPENT_AFTER, month_period=bindparam("p_period", type_=String))
)


async def holds_by_phone_allowed(
    s: AsyncSession, wallet_id: uuid.UUID, provider_id: uuid.UUID, total: int
) -> None:
    """A hold by phone number needs a trusted provider within its per-charge cap; anyone else
    gets the answer an unknown number gets, so the number reveals nothing."""
    row = (
        await s.execute(
            select(TrustedProvider.per_charge_cap_cents).where(
                TrustedProvider.wallet_id == wallet_id, TrustedProvider.provider_id == provider_id
            )
        )
    ).scalar_one_or_none()
    if row is None or int(row) < total:
        raise NotInBudget("This service is not in the customer's budget")
