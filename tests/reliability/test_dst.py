"""Funding across the daylight-saving months of Europe/Helsinki.

In 2027 the clocks go forward on Sunday 28 March (03:00 EET -> 04:00 EEST, a 23-hour day) and
back on Sunday 31 October (04:00 EEST -> 03:00 EET, a 25-hour day that is also the last day of
the month). A month starts at 00:00 Helsinki time whatever the offset: 22:00 UTC the day before
in winter, 21:00 UTC in summer. The scheduler's funding run must expire and fund at exactly that
instant, pro-rating counts calendar days (not hours), and a decision's last day lasts until
midnight Helsinki time, all 25 hours of it. (The pure period arithmetic is in
``tests/unit/test_periods.py``.)
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from payments import clock as payments_clock
from payments.books import check_books
from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.db import Database
from payments.errors import NotInBudget
from payments.ledger.periods import period_start_utc
from payments.marketplace import providers
from payments.models import Account, Transfer
from payments.uow import UnitOfWork
from tests.factories import trust_provider
from tests.support.money import by_wallet, charge, cleaning
from wallet_api.scheduler import Scheduler


async def _county(db: Database) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    org = await catalogue.create_organizer(db, slug=f"dst-{uuid.uuid4().hex[:6]}", name="Kainuu")
    await catalogue.add_category(
        db, organizer_id=org, code="siivous", names={"fi": "Siivous"}, unit="hour"
    )
    provider, _ = await providers.create_provider(
        db, organizer_id=org, name="Kuura", business_id="2345678-1", prices={"siivous": 1000}
    )
    wallets = {}
    for name, phone, valid_from, valid_to in (
        ("all-year", "+358401000001", date(2027, 2, 1), None),
        ("from-dst-day", "+358401000002", date(2027, 3, 28), None),
        ("october-31-only", "+358401000003", date(2027, 10, 31), date(2027, 10, 31)),
    ):
        new = await catalogue.create_client(
            db, organizer_id=org, first_name=name, last_name="X", phone=phone
        )
        await catalogue.create_decision(
            db,
            organizer_id=org,
            client_id=new.client_id,
            valid_from=valid_from,
            valid_to=valid_to,
            lines=[DecisionLineInput("Siivous", 74_400, ("siivous",))],
        )
        await trust_provider(db, new.wallet_id, provider)
        wallets[name] = new.wallet_id
    return provider, wallets


async def _balance(db: Database, wallet_id: uuid.UUID) -> tuple[int, str | None]:
    async with UnitOfWork(db, readonly=True) as uow:
        bal, funded = (
            await uow.session.execute(
                select(Account.balance_cents, Account.funded_period).where(
                    Account.wallet_id == wallet_id
                )
            )
        ).one()
    return int(bal), funded


async def _moved(db: Database, kind: str, period: str) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(Transfer.amount_cents).where(
                    Transfer.kind == kind, Transfer.period == period
                )
            )
        ).all()
    return sum(int(a) for (a,) in rows)


async def test_the_scheduler_expires_and_funds_at_helsinki_midnight_across_dst(db, monkeypatch):
    provider, wallets = await _county(db)
    scheduler = Scheduler(db)
    clock = {"now": datetime(2027, 2, 28, 21, 59, 59, tzinfo=UTC)}  # 23:59:59 EET, 28 Feb
    monkeypatch.setattr(payments_clock, "source", lambda: clock["now"])

    async def run_at(moment: datetime) -> str:
        clock["now"] = moment
        summary = await scheduler.fund_now()
        assert summary is not None
        return summary.period

    async def pay(wallet: str, cents: int, moment: datetime) -> None:
        await charge(
            db,
            None,
            cleaning(1, cents),
            provider_id=provider,
            customer=by_wallet(wallets[wallet]),
            now=moment,
        )

    # The last second of February: February is funded, nothing of March yet.
    assert await run_at(datetime(2027, 2, 28, 21, 59, 59, tzinfo=UTC)) == "2027-02"
    assert await _balance(db, wallets["all-year"]) == (74_400, "2027-02")
    await pay("all-year", 400, datetime(2027, 2, 28, 21, 59, 59, tzinfo=UTC))
    # 00:00:00 EET on 1 March: February's remainder expires, March is funded; the decision
    # starting on the 23-hour day gets 4 of 31 days.
    assert await run_at(datetime(2027, 2, 28, 22, tzinfo=UTC)) == "2027-03"
    assert await _moved(db, "expiry", "2027-02") == 74_000
    assert await _balance(db, wallets["all-year"]) == (74_400, "2027-03")
    assert await _balance(db, wallets["from-dst-day"]) == (4 * 2_400, "2027-03")
    # 23:59:59 EEST on 31 March is still March: a rerun moves nothing.
    assert await run_at(datetime(2027, 3, 31, 20, 59, 59, tzinfo=UTC)) == "2027-03"
    assert await _moved(db, "expiry", "2027-03") == 0
    # 00:00:00 EEST on 1 April (21:00 UTC): March expires, April is funded in full.
    assert await run_at(datetime(2027, 3, 31, 21, tzinfo=UTC)) == "2027-04"
    assert await _moved(db, "expiry", "2027-03") == 74_400 + 4 * 2_400
    assert await _balance(db, wallets["from-dst-day"]) == (74_400, "2027-04")

    # October: the one-day decision on the 25-hour day gets 1 of 31 days.
    for month in ("2027-05", "2027-06", "2027-07", "2027-08", "2027-09", "2027-10"):
        assert await run_at(period_start_utc(month)) == month
    assert await _balance(db, wallets["october-31-only"]) == (2_400, "2027-10")
    # Its day lasts 25 hours: a charge at 23:59:59 EET (21:59:59 UTC) is still on it ...
    await pay("october-31-only", 1_000, datetime(2027, 10, 31, 21, 59, 59, tzinfo=UTC))
    # ... one second later (22:00 UTC, still 31 October in UTC) the decision has ended.
    with pytest.raises(NotInBudget):
        await pay("october-31-only", 1_000, datetime(2027, 10, 31, 22, tzinfo=UTC))
    assert await run_at(datetime(2027, 10, 31, 21, 59, 59, tzinfo=UTC)) == "2027-10"
    assert await _moved(db, "expiry", "2027-10") == 0
    assert await run_at(datetime(2027, 10, 31, 22, tzinfo=UTC)) == "2027-11"
    assert await _balance(db, wallets["october-31-only"]) == (0, "2027-10")
    assert await _moved(db, "expiry", "2027-10") == 74_400 + 74_400 + 1_400
    report = await check_books(db)
    assert report.ok, report.violations
