"""What `wallet check` reports besides its violations, and how many violations it lists
(both engines): the counts and the per-month totals are what the CLI prints."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select

from payments.books import MAX_REPORTED, CheckReport, PeriodTotals, check_books
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.charges import Customer
from payments.checkout.holds import ensure_hold_account
from payments.checkout.visits import create_visit_hold, void_hold
from payments.db import Database
from payments.models import Account, Transfer
from payments.reporting.reports import month_rows
from payments.results import Happened
from payments.uow import UnitOfWork
from payments.vocabulary import TransferKind
from tests.factories import at, count, envelope, seed_world, transfers
from tests.support.money import PHONE, by_wallet, charged, cleaning, home_help, refund

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


async def test_the_report_counts_and_totals_a_month(db: Database):
    w = await seed_world(db, period=JAN, monthly_cents=30_000)
    charge_id = await charged(db, w, cleaning(2), customer=by_wallet(w), now=at(JAN, 3))
    out = await refund(db, w, charge_id, 1500, reason=None, now=at(JAN, 4))
    assert out.what is Happened.CREATED and not out.replayed
    report = await check_books(db)
    assert report.ok, report.violations
    assert report.transfers == await count(db, Transfer)
    assert report.transfers == 3
    assert report.accounts == await count(db, Account)
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


FEB = "2031-02"


async def test_two_organizers_a_one_cent_refund_and_an_unused_hold_account_are_fine(db: Database):
    """Good books the check must not flag: two organizers side by side (each transfer is checked
    against its own two accounts, not against every other account), a refund of one cent (the
    smallest amount there is), and a hold account that has never moved money (balance 0, no
    transfers)."""
    w = await seed_world(db, period=JAN)
    other = await seed_world(db, period=JAN, phone="040 765 4321")
    assert other.organizer_id != w.organizer_id
    charge_id = await charged(db, w, cleaning(2), customer=by_wallet(w), now=at(JAN, 3))
    await charged(db, other, cleaning(1), customer=by_wallet(other), now=at(JAN, 3))
    await refund(db, w, charge_id, 1, reason=None, now=at(JAN, 4))
    env = await envelope(db, w.wallet_id)
    async with UnitOfWork(db) as uow:
        await ensure_hold_account(uow.session, env.id)
        await uow.commit()
    assert [t.amount_cents for t in await transfers(db, kind=TransferKind.REFUND)] == [1]
    report = await check_books(db)
    assert report.violations == []
    assert report.ok


async def test_a_months_totals_keep_held_money_apart_from_expired_money(db: Database):
    """A visit hold moves money out of the envelope for a while: the month's totals show it as
    ``other``, not as expired (the CLI prints both)."""
    w = await seed_world(db, period=JAN)
    await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=PHONE),
        lines=home_help(1),
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
        trusted_only=True,
        now=at(JAN, 5),
    )
    report = await check_books(db)
    assert report.ok, report.violations
    assert report.periods == {
        JAN: PeriodTotals(
            funded=30_000, spent=0, refunded=0, expired=0, other=-3800, closing=30_000 - 3800
        )
    }


async def test_a_month_of_two_service_groups_and_two_kinds_of_expiry_reconciles(db: Database):
    """The organizer's report has one row per month and service group, and the ledger books two
    transfer kinds as expired (an envelope's expiry, a hold released into a closed month): the
    check must add them up, not keep the last one. Every figure of January is on both rows."""
    w = await seed_world(
        db,
        period=JAN,
        lines=[
            DecisionLineInput("Kotiapu", 20_000, ("kotiapu",)),
            DecisionLineInput("Siivous", 10_000, ("siivous",)),
        ],
    )
    for lines in (home_help(2), cleaning(2)):
        charge_id = await charged(db, w, lines, customer=by_wallet(w), now=at(JAN, 3))
        await refund(db, w, charge_id, 500, reason=None, now=at(JAN, 4))
    hold = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=PHONE),
        lines=home_help(1),
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
        trusted_only=True,
        now=at(JAN, 5),
    )
    await fund_period(db, FEB)
    voided = await void_hold(
        db, provider_id=w.provider_id, hold_id=uuid.UUID(hold.body["id"]), now=at(FEB, 2)
    )
    assert voided.what is Happened.DONE
    (hold_expired,) = await transfers(db, kind=TransferKind.HOLD_EXPIRED)
    assert (hold_expired.period, hold_expired.amount_cents) == (JAN, 3800)
    assert {t.period for t in await transfers(db, kind=TransferKind.EXPIRY)} == {JAN}
    async with UnitOfWork(db, readonly=True) as uow:
        rows = [r for r in await month_rows(uow.session, organizer_id=w.organizer_id)]
    january = [r for r in rows if r.period == JAN]
    assert len(january) == 2
    assert all(r.funded_cents and r.spent_cents and r.refunded_cents for r in january)
    assert all(r.expired_cents for r in january)
    report = await check_books(db)
    assert report.violations == []
    expired = 20_000 - 7600 + 500 + 10_000 - 7000 + 500
    assert report.periods[JAN] == PeriodTotals(
        funded=30_000, spent=14_600, refunded=1000, expired=expired - 3800, other=-3800, closing=0
    )


async def test_the_check_reads_beside_a_writer_without_waiting_for_it(db: Database):
    """``wallet check`` runs on a live system: it reads in a read-only transaction, so it does
    not queue behind a writer (nor make writers queue behind it)."""
    w = await seed_world(db, period=JAN)
    await charged(db, w, cleaning(2), customer=by_wallet(w), now=at(JAN, 3))
    async with UnitOfWork(db) as writer:
        await writer.session.execute(select(Account.id).limit(1))
        report = await asyncio.wait_for(check_books(db), timeout=10)
        assert report.ok, report.violations
        await writer.rollback()


async def test_two_envelopes_add_up_in_every_months_totals(db: Database):
    """Every figure of a month is the sum over its envelopes: two service groups, each funded,
    charged, refunded and expired in January, and in February charged, refunded and holding
    a visit (``other``) with money left at the end of the month (``closing``)."""
    w = await seed_world(
        db,
        period=JAN,
        lines=[
            DecisionLineInput("Kotiapu", 20_000, ("kotiapu",)),
            DecisionLineInput("Siivous", 10_000, ("siivous",)),
        ],
    )

    async def spend(period: str, back: int) -> None:
        for lines in (home_help(1), cleaning(1)):
            charge_id = await charged(db, w, lines, customer=by_wallet(w), now=at(period, 3))
            await refund(db, w, charge_id, back, reason=None, now=at(period, 4))

    await spend(JAN, 500)
    await fund_period(db, FEB)
    await spend(FEB, 100)
    for lines in (home_help(1), cleaning(1)):
        await create_visit_hold(
            db,
            provider_id=w.provider_id,
            customer=Customer(phone_e164=PHONE),
            lines=lines,
            idempotency_key=uuid.uuid4().hex,
            request_hash=uuid.uuid4().hex,
            trusted_only=True,
            now=at(FEB, 5),
        )
    report = await check_books(db)
    assert report.ok, report.violations
    assert report.envelopes == 2
    kotiapu_left = 20_000 - 3800 + 100 - 3800
    siivous_left = 10_000 - 3500 + 100 - 3500
    assert report.periods == {
        JAN: PeriodTotals(
            funded=30_000,
            spent=7300,
            refunded=1000,
            expired=(20_000 - 3800 + 500) + (10_000 - 3500 + 500),
            other=0,
            closing=0,
        ),
        FEB: PeriodTotals(
            funded=30_000,
            spent=7300,
            refunded=200,
            expired=0,
            other=-7300,
            closing=kotiapu_left + siivous_left,
        ),
    }
