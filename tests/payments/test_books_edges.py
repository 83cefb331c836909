"""What `wallet check` reports besides its violations, and how many violations it lists
(both engines): the counts and the per-month totals are what the CLI prints."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select

from payments.books import MAX_REPORTED, CheckReport, PeriodTotals, check_books
from payments.checkout.charges import ChargeLineInput, Customer, capture_charge, refund_charge
from payments.db import Database
from payments.models import Account, Transfer
from payments.uow import UnitOfWork
from tests.factories import at, envelope, seed_world

JAN = "2031-01"


def test_a_report_lists_fifty_violations_and_says_there_are_more() -> None:
    report = CheckReport()
    assert report.ok and report.violations == []
    for n in range(MAX_REPORTED):
        report.add(f"v{n}")
    assert len(report.violations) == 50 and report.violations[-1] == "v49"
    assert not report.ok
    report.add("v50")
    report.add("v51")
    assert report.violations[50:] == ["... more violations not shown"]
    assert len(report.violations) == MAX_REPORTED + 1


async def _count(db: Database, stmt) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int((await uow.session.execute(stmt)).scalar_one())


async def test_the_report_counts_and_totals_a_month(db: Database):
    w = await seed_world(db, period=JAN, monthly_cents=30_000)
    out = await capture_charge(
        db,
        provider_id=w.provider_id,
        customer=Customer(wallet_id=w.wallet_id),
        lines=[ChargeLineInput("siivous", Decimal(2), 3500)],
        idempotency_key="c1",
        request_hash="h",
        now=at(JAN, 3),
    )
    await refund_charge(
        db,
        provider_id=w.provider_id,
        charge_id=uuid.UUID(out.body["id"]),
        amount_cents=1500,
        reason=None,
        idempotency_key="r1",
        request_hash="h",
        now=at(JAN, 4),
    )
    report = await check_books(db)
    assert report.ok, report.violations
    assert report.transfers == await _count(db, select(func.count(Transfer.id)))
    assert report.transfers == 3
    assert report.accounts == await _count(db, select(func.count(Account.id)))
    assert report.envelopes == 1
    assert report.periods == {
        JAN: PeriodTotals(
            funded=30_000,
            spent=7000,
            refunded=1500,
            expired=0,
            other=0,
            closing=30_000 - 7000 + 1500,
        )
    }
    assert (await envelope(db, w.wallet_id)).balance_cents == 24_500
