"""What `wallet check` reports besides its violations, and how many violations it lists
(both engines): the counts and the per-month totals are what the CLI prints."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, select

from payments.books import MAX_REPORTED, CheckReport, PeriodTotals, check_books
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.charges import Customer
from payments.checkout.holds import ensure_hold_account
from payments.checkout.phone import phone_checkout
from payments.checkout.requests import approve_request
from payments.checkout.visits import capture_hold, create_visit_hold, void_hold
from payments.db import Database, create_database
from payments.models import Account, Hold, Transfer
from payments.reporting.reports import month_rows
from payments.results import Happened
from payments.uow import UnitOfWork
from payments.vocabulary import HoldStatus, TransferKind
from tests.factories import World, at, count, envelope, seed_world, transfers
from tests.support.databases import truncate
from tests.support.money import (
    PHONE,
    by_phone,
    by_wallet,
    charged,
    cleaning,
    home_help,
    refund,
)
from wallet_api.cli import main

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
            held=0,
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
    ``held``, not as expired (the CLI prints both)."""
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
            funded=30_000, spent=0, refunded=0, expired=0, held=3800, closing=30_000 - 3800
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
    # The hold released into closed January expired with January's remainder: nothing is
    # held any more.
    assert report.periods[JAN] == PeriodTotals(
        funded=30_000, spent=14_600, refunded=1000, expired=expired, held=0, closing=0
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
    a visit (``held``) with money left at the end of the month (``closing``)."""
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
            held=0,
            closing=0,
        ),
        FEB: PeriodTotals(
            funded=30_000,
            spent=7300,
            refunded=200,
            expired=0,
            held=7300,
            closing=kotiapu_left + siivous_left,
        ),
    }


async def a_request_and_two_visits(db: Database) -> World:
    """January of a client who trusts no provider: a 70 EUR charge by phone becomes a request,
    approved; a visit of 76 EUR checked out at 57 EUR (19 back); a visit of 38 EUR still open.
    The money of all three left the envelope through its hold account."""
    w = await seed_world(db, period=JAN, trusted=False)
    asked = await phone_checkout(
        db,
        provider_id=w.provider_id,
        phone_e164=PHONE,
        lines=cleaning(2),
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
        now=at(JAN, 3),
    )
    assert asked.what is Happened.PENDING_APPROVAL
    approved = await approve_request(
        db,
        request_id=uuid.UUID(asked.body["request"]["id"]),
        wallet_id=w.wallet_id,
        actor_id=w.client_principal,
        now=at(JAN, 3) + timedelta(minutes=1),
    )
    assert approved.body["charge_id"]
    visits = []
    for day, hours in ((5, 2), (6, 1)):
        visit = await create_visit_hold(
            db,
            provider_id=w.provider_id,
            customer=by_wallet(w),
            lines=home_help(hours),
            idempotency_key=uuid.uuid4().hex,
            request_hash=uuid.uuid4().hex,
            now=at(JAN, day),
        )
        visits.append(uuid.UUID(visit.body["id"]))
    closed = await capture_hold(
        db,
        provider_id=w.provider_id,
        hold_id=visits[0],
        lines=home_help("1.5"),
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
        now=at(JAN, 5, 15),
    )
    assert closed.what is Happened.DONE, closed.body
    return w


async def test_money_a_request_or_a_visit_took_is_spent_and_only_open_holds_are_held(
    db: Database,
):
    """A charge paid through an approved payment request, and a visit checked out, leave the
    envelope through its hold account: the month's totals count both as spent, as the
    organizer's report does, and ``held`` is only the visit still open (issue 17)."""
    w = await a_request_and_two_visits(db)
    report = await check_books(db)
    assert report.ok, report.violations
    spent = 7000 + 5700
    assert report.periods == {
        JAN: PeriodTotals(
            funded=30_000,
            spent=spent,
            refunded=0,
            expired=0,
            held=3800,
            closing=30_000 - spent - 3800,
        )
    }
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - spent - 3800
    async with UnitOfWork(db, readonly=True) as uow:
        rows = await month_rows(uow.session, organizer_id=w.organizer_id)
    assert sum(r.spent_cents for r in rows if r.period == JAN) == report.periods[JAN].spent


def test_wallet_check_prints_spent_as_the_report_and_held_as_open_holds(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``wallet check`` prints for that January: spent 127,00 € (the report's figure),
    held 38,00 € (the open visit only), in Babel's Finnish format."""

    async def seed() -> int:
        db = create_database(database_url)
        try:
            if db.is_postgres:
                await truncate(db)
            w = await a_request_and_two_visits(db)
            async with UnitOfWork(db, readonly=True) as uow:
                rows = await month_rows(uow.session, organizer_id=w.organizer_id)
            return sum(r.spent_cents for r in rows if r.period == JAN)
        finally:
            await db.dispose()

    reported_spent = asyncio.run(seed())
    assert reported_spent == 12_700
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    done = CliRunner().invoke(main, ["check"])
    assert done.exit_code == 0, done.output
    header = next(line for line in done.output.splitlines() if "funded" in line)
    row = next(line for line in done.output.splitlines() if JAN in line)
    cells = [c.strip() for c in row.strip().strip("│").split("│")]
    names = [c.strip() for c in header.strip().strip("┃").split("┃")]
    shown = dict(zip(names, cells, strict=True))
    assert shown == {
        "period": JAN,
        "funded": "300,00\xa0€",
        "spent": "127,00\xa0€",
        "refunded": "0,00\xa0€",
        "expired": "0,00\xa0€",
        "held (open)": "38,00\xa0€",
        "closing": "135,00\xa0€",
    }, row
    assert "OK: the books balance." in done.output


async def test_more_than_fifty_findings_of_one_query_say_there_are_more(db: Database):
    """One query that finds more than MAX_REPORTED problems still ends the list with the line
    that says there are more (each query fetches one row more than a report lists)."""
    w = await seed_world(db, period=JAN)
    rows = [
        {
            "id": uuid.uuid4(),
            "organizer_id": w.organizer_id,
            "provider_id": w.provider_id,
            "wallet_id": w.wallet_id,
            "purpose": "visit",
            "status": HoldStatus.CAPTURED,
            "amount_cents": 100,
            "captured_cents": 100,
            "period": JAN,
            "charge_id": None,
            "expires_at": at(JAN, 20),
            "created_at": at(JAN, 1),
        }
        for _ in range(MAX_REPORTED + 1)
    ]
    async with db.engine.begin() as conn:
        await conn.execute(insert(Hold), rows)
    report = await check_books(db)
    assert len(report.violations) == MAX_REPORTED + 1, report.violations
    assert all(
        v.endswith(": captured 100 but its charge took None") for v in report.violations[:-1]
    ), report.violations
    assert report.violations[-1] == "... more violations not shown"


async def test_a_direct_charge_and_a_checked_out_visit_of_one_month_are_both_spent(db: Database):
    """Money that left the envelope directly (a trusted charge) and through its hold account
    (a visit checked out) in the same month add up in the month's spent."""
    w = await seed_world(db, period=JAN)
    await charged(db, w, cleaning(2), customer=by_wallet(w), now=at(JAN, 3))
    held = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=by_phone(),
        lines=cleaning(1),
        idempotency_key=uuid.uuid4().hex,
        request_hash="h",
        trusted_only=True,
        now=at(JAN, 4),
    )
    assert held.what is Happened.CREATED, held.body
    captured = await capture_hold(
        db,
        provider_id=w.provider_id,
        hold_id=uuid.UUID(held.body["id"]),
        lines=cleaning(1),
        idempotency_key=uuid.uuid4().hex,
        request_hash="h",
        now=at(JAN, 4, 1),
    )
    assert captured.what is Happened.DONE, captured.body
    report = await check_books(db)
    assert report.ok, report.violations
    assert report.periods[JAN].spent == 7000 + 3500
