"""A trusted provider's monthly total across the Helsinki month boundary and under races
(issue 13, item 4).

The clock is the ``now`` every use case takes: 23:59 on the last day of January and 00:00 on
1 February in Helsinki (UTC+2), before February's funding has run (the money is still
January's; the month a cap counts in is the calendar's, not the money's).

The races run the real use cases at once, each in its own pooled connection on PostgreSQL and
queued on the write lock on SQLite, as ``test_races.py`` does: only the conditional UPDATE of
the trusted row decides who stays within the cap.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from payments.checkout.charges import (
    ChargeLineInput,
    Customer,
)
from payments.checkout.phone import phone_checkout
from payments.checkout.trust import set_trusted
from payments.checkout.visits import create_visit_hold, void_hold
from payments.db import Database
from payments.errors import ConsentRequired
from payments.models import TrustedProvider
from payments.results import Happened, Outcome
from payments.uow import UnitOfWork
from tests.factories import World, assert_books_ok, envelope, seed_world
from tests.support.money import charge, refund

JAN, FEB = "2031-01", "2031-02"
JAN_23_58 = datetime(2031, 1, 31, 21, 58, tzinfo=UTC)
JAN_23_59 = datetime(2031, 1, 31, 21, 59, tzinfo=UTC)
JAN_23_59_59 = datetime(2031, 1, 31, 21, 59, 59, tzinfo=UTC)
FEB_00_00 = datetime(2031, 1, 31, 22, 0, tzinfo=UTC)
FEB_00_01 = datetime(2031, 1, 31, 22, 1, tzinfo=UTC)

CLEANING_2H = [ChargeLineInput("siivous", Decimal(2), 3500)]  # 7,000
HOME_HELP_1H = [ChargeLineInput("kotiapu", Decimal(1), 3800)]  # 3,800


async def trusted_world(
    db: Database,
    *,
    per_charge: int,
    monthly: int,
    period: str | None = None,
    monthly_cents: int = 30_000,
) -> World:
    w = await seed_world(db, trusted=False, period=period, monthly_cents=monthly_cents)
    await set_trusted(
        db,
        actor_id=w.client_principal,
        wallet_id=w.wallet_id,
        provider_id=w.provider_id,
        per_charge_cap_cents=per_charge,
        monthly_cap_cents=monthly,
    )
    return w


async def month_total(db: Database, w: World) -> tuple[str | None, int]:
    """(month, total) straight from the trusted row, not through the code under test."""
    async with UnitOfWork(db, readonly=True) as uow:
        period, spent = (
            await uow.session.execute(
                select(TrustedProvider.month_period, TrustedProvider.month_spent_cents).where(
                    TrustedProvider.wallet_id == w.wallet_id,
                    TrustedProvider.provider_id == w.provider_id,
                )
            )
        ).one()
    return period, int(spent)


async def hold(db: Database, w: World, now: datetime | None = None, lines=HOME_HELP_1H) -> Outcome:
    return await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164="+358401234567"),
        lines=lines,
        idempotency_key=str(uuid.uuid4()),
        request_hash="h",
        trusted_only=True,
        now=now,
    )


# --- the month boundary -------------------------------------------------------------------


async def test_last_months_total_does_not_block_the_first_minute_of_the_next(db):
    w = await trusted_world(db, per_charge=8000, monthly=14_000, period=JAN)
    await charge(db, w, now=JAN_23_58)
    await charge(db, w, now=JAN_23_59)
    assert await month_total(db, w) == (JAN, 14_000)
    with pytest.raises(ConsentRequired):  # a third at 23:59 would pass January's cap
        await charge(db, w, now=JAN_23_59)
    # 00:00 on 1 February: a new month for the cap, though the money is still January's.
    feb = await charge(db, w, now=FEB_00_00)
    assert feb.what is Happened.CREATED and feb.body["period"] == JAN
    assert await month_total(db, w) == (FEB, 7000)
    placed = await hold(db, w, FEB_00_01)
    assert placed.what is Happened.CREATED
    assert await month_total(db, w) == (FEB, 10_800)
    await assert_books_ok(db)


async def test_a_late_charge_stamped_last_month_counts_in_the_month_in_force(db):
    """Two servers' clocks differ by a moment at midnight: a charge stamped 23:59:59 that
    commits after February began must not restart the total at January and so wipe out what
    February has counted. It counts in February, the month already in force."""
    w = await trusted_world(db, per_charge=8000, monthly=14_000, period=JAN)
    await charge(db, w, now=FEB_00_00)
    assert await month_total(db, w) == (FEB, 7000)
    await charge(db, w, now=JAN_23_59_59)
    assert await month_total(db, w) == (FEB, 14_000)
    with pytest.raises(ConsentRequired):
        await charge(db, w, now=FEB_00_01)
    assert await month_total(db, w) == (FEB, 14_000)
    await assert_books_ok(db)


async def test_last_months_refunds_and_releases_do_not_lower_this_months_total(db):
    w = await trusted_world(db, per_charge=8000, monthly=20_000, period=JAN)
    jan_charge = await charge(db, w, now=JAN_23_58)
    jan_hold = await hold(db, w, JAN_23_59)
    assert await month_total(db, w) == (JAN, 10_800)
    await charge(db, w, now=FEB_00_00)
    assert await month_total(db, w) == (FEB, 7000)
    # January's hold is voided and January's charge refunded in February: that money counted
    # in January, so February's total keeps what February took.
    voided = await void_hold(
        db, provider_id=w.provider_id, hold_id=uuid.UUID(jan_hold.body["id"]), now=FEB_00_01
    )
    assert voided.what is Happened.DONE
    refunded = await refund(db, w, jan_charge.body["id"], now=FEB_00_01)
    assert refunded.what is Happened.CREATED
    assert await month_total(db, w) == (FEB, 7000)
    await assert_books_ok(db)


async def test_a_refund_in_the_charges_own_month_lowers_it(db):
    w = await trusted_world(db, per_charge=8000, monthly=14_000, period=JAN)
    first = await charge(db, w, now=JAN_23_58)
    await charge(db, w, now=JAN_23_58)
    await refund(db, w, first.body["id"], now=JAN_23_59)
    assert await month_total(db, w) == (JAN, 7000)
    assert (await charge(db, w, now=JAN_23_59)).what is Happened.CREATED
    await assert_books_ok(db)


# --- races --------------------------------------------------------------------------------


async def test_concurrent_phone_holds_never_pass_the_monthly_cap(db):
    """Before: only the per-charge cap was checked for holds, so all seven that the envelope
    covered were held. Now three (11,400) fit in 14,000; the rest are refused."""
    w = await trusted_world(db, per_charge=8000, monthly=14_000)
    results = await asyncio.gather(*(hold(db, w) for _ in range(10)), return_exceptions=True)
    ok = [r for r in results if isinstance(r, Outcome)]
    refused = [r for r in results if not isinstance(r, Outcome)]
    assert len(ok) == 3, results
    assert all(isinstance(e, ConsentRequired) for e in refused), refused
    assert (await month_total(db, w))[1] == 3 * 3800
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 3 * 3800
    await assert_books_ok(db)


async def test_concurrent_holds_and_charges_together_stay_within_the_monthly_cap(db):
    # Money for everything: only the cap refuses.
    w = await trusted_world(db, per_charge=8000, monthly=20_000, monthly_cents=100_000)

    async def phone_charge() -> Outcome:
        outcome = await phone_checkout(
            db,
            provider_id=w.provider_id,
            phone_e164="+358401234567",
            lines=CLEANING_2H,
            idempotency_key=str(uuid.uuid4()),
            request_hash="h",
        )
        return outcome

    calls = [hold(db, w) if i % 2 else phone_charge() for i in range(12)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    counted = 0
    for r in results:
        if isinstance(r, Outcome) and r.body.get("outcome") == "captured":
            counted += r.body["charge"]["total_cents"]
        elif isinstance(r, Outcome) and r.body.get("status") == "held":
            counted += r.body["amount_cents"]
        elif not isinstance(r, Outcome):
            assert isinstance(r, ConsentRequired), r
    assert 0 < counted <= 20_000
    assert await month_total(db, w) == (w.period, counted)
    # Some hold was refused, so not even the smaller of the two fits any more.
    assert counted + 3800 > 20_000
    await assert_books_ok(db)
