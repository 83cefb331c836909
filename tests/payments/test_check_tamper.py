"""``wallet check`` can fail: one tamper test per invariant (issue 23, item 3).

Each test builds a real, consistent ledger with the use cases, proves that the books are fine,
then writes exactly the one inconsistency that an invariant exists for straight into the
database (Core UPDATE/INSERT/DELETE, past every use case) and asserts that ``check_books``
names it with that invariant's own message. Other invariants may notice the same damage too;
each test asserts its own message, so removing any one check from ``payments/check.py`` (or
``payments.settlements.check_settlements``) fails its test.

Where the schema itself refuses the damage (a CHECK or a unique constraint), the test lifts
that one constraint for its write: ``PRAGMA ignore_check_constraints`` on SQLite, a dropped
and re-added constraint on PostgreSQL (which the test puts back, exactly as it was, before it
ends). SQLite cannot lift a unique constraint, so the one test that needs that runs on
PostgreSQL only; ``test_backstops.py`` shows both engines refuse the write.

The last test runs the ``wallet check`` command itself: exit 0 on good books, 1 with the
violations listed on tampered ones.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update

from payments.books import check_books
from payments.budgets import catalogue
from payments.budgets.funding import fund_period
from payments.checkout.charges import ChargeLineInput, Customer
from payments.checkout.visits import capture_hold, create_visit_hold
from payments.clock import utcnow
from payments.db import Database, create_database
from payments.marketplace import providers
from payments.marketplace.settlements import settle_providers
from payments.models import Account, Charge, Hold, HoldLine, Settlement, SettlementLine, Transfer
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import (
    World,
    assert_books_ok,
    at,
    envelope,
    give_price,
    organizer_account_id,
    provider_payable_id,
    seed_world,
    transfers,
)
from tests.support.databases import truncate
from tests.support.money import PHONE, charged, cleaning, exactly, home_help, refund
from wallet_api.cli import main

JAN, FEB = "2031-01", "2031-02"


async def tamper(db: Database, *statements: Any) -> None:
    """Write behind the use cases' back, in one transaction."""
    async with db.engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)


async def assert_caught(db: Database, message: str) -> list[str]:
    """``check_books`` reports ``message`` (word for word) among its violations."""
    report = await check_books(db)
    assert not report.ok
    assert message in report.violations, report.violations
    return report.violations


async def one_id(db: Database, statement: Any) -> Any:
    async with UnitOfWork(db, readonly=True) as uow:
        return (await uow.session.execute(statement)).scalar_one()


@asynccontextmanager
async def constraint_lifted(
    db: Database, table: str, constraint: str
) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    """A writer that gets past the constraint ``table.constraint`` (a CHECK on SQLite; any on
    PostgreSQL), for a test that must write what the schema refuses. On PostgreSQL the
    constraint is dropped for the test and put back as it was, after the rows are cleared."""

    async def write(*statements: Any) -> None:
        async with db.engine.begin() as conn:
            if db.is_sqlite:
                await conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                if db.is_sqlite:
                    await conn.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")

    if db.is_sqlite:
        yield write
        return
    async with db.engine.begin() as conn:
        definition = (
            await conn.exec_driver_sql(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1",
                (constraint,),
            )
        ).scalar_one()
        await conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"')
    try:
        yield write
    finally:
        await truncate(db)
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" {definition}'
            )


# --- worlds -----------------------------------------------------------------------------------


@dataclass
class Month:
    """January of one client: funded 300 EUR, a 70 EUR charge, 10 EUR of it refunded."""

    w: World
    envelope: int
    charge_id: uuid.UUID


async def a_month(db: Database) -> Month:
    w = await seed_world(db, period=JAN)
    charge_id = await charged(db, w, cleaning(2), now=at(JAN, 3))
    refunded = await refund(db, w, charge_id, 1000, reason="tamper test", now=at(JAN, 4))
    assert refunded.body["returned_to"] == "envelope"
    env = await envelope(db, w.wallet_id)
    assert env.balance_cents == 30_000 - 7000 + 1000
    await assert_books_ok(db)
    return Month(w, env.id, charge_id)


async def closed_january(
    db: Database, *, carry_over: str = "none", cap: int = 0, valid_to: date | None = None
) -> Month:
    """January funded, 70 EUR spent, then February's run closed January (expiry)."""
    w = await seed_world(
        db, period=JAN, carry_over=carry_over, carry_cap_cents=cap, valid_to=valid_to
    )
    charge_id = await charged(db, w, cleaning(2), now=at(JAN, 3))
    await fund_period(db, FEB)
    env = await envelope(db, w.wallet_id)
    assert env.expired_period == JAN
    await assert_books_ok(db)
    return Month(w, env.id, charge_id)


# --- 1. every transfer balances, inside one organizer -----------------------------------------


@pytest.mark.parametrize("side", ["debit", "credit"])
async def test_a_transfer_that_crosses_organizers_is_reported(db, side):
    """A charge paid to (or a refund paid from) another county's provider."""
    await a_month(db)
    other_org = await catalogue.create_organizer(db, slug="eksote-t", name="Eksote")
    foreign, _ = await providers.create_provider(
        db, organizer_id=other_org, name="Vieras Oy", business_id="3333333-3", prices={}
    )
    foreign_payable = await provider_payable_id(db, foreign)
    kind = "charge" if side == "credit" else "refund"
    (t,) = await transfers(db, kind=kind)
    column = Transfer.credit_account_id if side == "credit" else Transfer.debit_account_id
    await tamper(db, update(Transfer).where(Transfer.id == t.id).values({column: foreign_payable}))
    await assert_caught(
        db, f"transfer {t.id} does not balance or crosses organizers (amount {t.amount_cents})"
    )


async def test_a_transfer_of_no_money_is_reported(db):
    await a_month(db)
    (t,) = await transfers(db, kind="refund")
    async with constraint_lifted(db, "transfers", "ck_transfers_amount_positive") as write:
        await write(update(Transfer).where(Transfer.id == t.id).values(amount_cents=0))
        await assert_caught(
            db, f"transfer {t.id} does not balance or crosses organizers (amount 0)"
        )


async def test_a_transfer_from_an_account_to_itself_is_reported(db):
    await a_month(db)
    (t,) = await transfers(db, kind="refund")
    async with constraint_lifted(db, "transfers", "ck_transfers_distinct_accounts") as write:
        await write(
            update(Transfer).where(Transfer.id == t.id).values(credit_account_id=t.debit_account_id)
        )
        await assert_caught(
            db, f"transfer {t.id} does not balance or crosses organizers (amount 1000)"
        )


# --- 2 and 3. stored balances equal their transfers; none negative -----------------------------


@pytest.mark.parametrize(("stored", "shown"), [(24_100, "24100"), (None, "None")])
async def test_a_stored_balance_that_is_not_its_transfers_is_reported(db, stored, shown):
    """The envelope's balance nudged (or wiped) behind the ledger's back."""
    m = await a_month(db)
    await tamper(db, update(Account).where(Account.id == m.envelope).values(balance_cents=stored))
    await assert_caught(
        db, f"envelope account {m.envelope}: stored balance {shown} != transfers 24000"
    )


async def test_a_negative_envelope_is_reported(db):
    m = await a_month(db)
    async with constraint_lifted(db, "accounts", "ck_accounts_balance_nonnegative") as write:
        await write(update(Account).where(Account.id == m.envelope).values(balance_cents=-100))
        await assert_caught(db, f"envelope account {m.envelope} is negative: -100")


async def test_a_derived_account_that_keeps_a_balance_is_reported(db):
    """A provider's payable account is derived from its transfers and keeps no balance."""
    m = await a_month(db)
    payable = await provider_payable_id(db, m.w.provider_id)
    await tamper(db, update(Account).where(Account.id == payable).values(balance_cents=6000))
    await assert_caught(
        db, f"provider_payable account {payable} keeps a stored balance it should not"
    )


# --- 4. per envelope and period ---------------------------------------------------------------


async def test_a_month_that_closes_negative_is_reported(db):
    """January's funding booked to February: January spent money it never had."""
    m = await a_month(db)
    (funding,) = await transfers(db, kind="funding")
    await tamper(db, update(Transfer).where(Transfer.id == funding.id).values(period=FEB))
    violations = await assert_caught(db, f"envelope {m.envelope} closes {JAN} negative: -6000")
    # The stored balance still equals the transfers: only the month is wrong.
    assert not [v for v in violations if "stored balance" in v]


async def test_periods_that_do_not_close_at_the_balance_are_reported(db):
    m = await a_month(db)
    await tamper(db, update(Account).where(Account.id == m.envelope).values(balance_cents=24_100))
    await assert_caught(db, f"envelope {m.envelope}: periods close at 24000, balance is 24100")


async def test_an_envelope_without_a_decision_line_is_reported_as_such(db):
    """An envelope whose decision line is gone: said in those words, and its periods still
    close at its real balance (not at a balance of 0 that nothing stored)."""
    m = await a_month(db)
    await tamper(db, update(Account).where(Account.id == m.envelope).values(decision_line_id=None))
    violations = await assert_caught(db, f"envelope {m.envelope} belongs to no decision line")
    assert not [v for v in violations if "balance is" in v], violations


async def test_a_closed_month_that_kept_money_is_reported(db):
    """February's run expired 1 EUR too little of January (policy ``none``): the envelope
    holds more than one month's budget. Ledger and balance agree; only the rule is broken."""
    m = await closed_january(db)
    (expiry,) = await transfers(db, kind="expiry")
    assert expiry.amount_cents == 23_000
    await tamper(
        db,
        update(Transfer).where(Transfer.id == expiry.id).values(amount_cents=22_900),
        update(Account).where(Account.id == m.envelope).values(balance_cents=30_100),
    )
    violations = await assert_caught(
        db, f"envelope {m.envelope} kept 100 after {JAN} closed (allowed carry-over 0)"
    )
    assert len(violations) == 1, violations


async def test_a_closed_month_that_kept_more_than_its_cap_is_reported(db):
    """Policy ``capped`` at 50 EUR: January may keep exactly 50 EUR (the books are fine, see
    ``closed_january``), and not a cent more."""
    m = await closed_january(db, carry_over="capped", cap=5000)
    (expiry,) = await transfers(db, kind="expiry")
    assert expiry.amount_cents == 23_000 - 5000
    await tamper(
        db,
        update(Transfer).where(Transfer.id == expiry.id).values(amount_cents=17_999),
        update(Account).where(Account.id == m.envelope).values(balance_cents=35_001),
    )
    violations = await assert_caught(
        db, f"envelope {m.envelope} kept 5001 after {JAN} closed (allowed carry-over 5000)"
    )
    assert len(violations) == 1, violations


async def test_a_carry_over_capped_at_nothing_keeps_nothing(db):
    """Policy ``capped`` with a cap of 0 (allowed: CHECK ``carry_cap`` is ``>= 0``): January
    may keep nothing, not even a cent."""
    m = await closed_january(db, carry_over="capped", cap=0)
    (expiry,) = await transfers(db, kind="expiry")
    assert expiry.amount_cents == 23_000
    await tamper(
        db,
        update(Transfer).where(Transfer.id == expiry.id).values(amount_cents=22_999),
        update(Account).where(Account.id == m.envelope).values(balance_cents=30_001),
    )
    violations = await assert_caught(
        db, f"envelope {m.envelope} kept 1 after {JAN} closed (allowed carry-over 0)"
    )
    assert len(violations) == 1, violations


async def test_a_carry_over_kept_after_the_decision_ended_is_reported(db):
    """A capped decision that ended with January carries nothing over: funding expires all
    of it (``test_funding.py::test_carry_over_ends_with_the_decision``). An envelope that kept
    its cap anyway holds money that no decision grants."""
    m = await closed_january(db, carry_over="capped", cap=5000, valid_to=date(2031, 1, 31))
    (expiry,) = await transfers(db, kind="expiry")
    assert expiry.amount_cents == 23_000
    await tamper(
        db,
        update(Transfer).where(Transfer.id == expiry.id).values(amount_cents=18_000),
        update(Account).where(Account.id == m.envelope).values(balance_cents=5000),
    )
    await assert_caught(
        db, f"envelope {m.envelope} kept 5000 after {JAN} closed (allowed carry-over 0)"
    )


# --- 5. charges agree with their transfers -----------------------------------------------------


async def test_a_charge_whose_total_is_not_its_transfers_is_reported(db):
    m = await a_month(db)
    await tamper(db, update(Charge).where(Charge.id == m.charge_id).values(total_cents=7100))
    await assert_caught(
        db, f"charge {m.charge_id}: total 7100 vs transfers 7000; refunded 1000 vs transfers 1000"
    )


async def test_a_charge_whose_refunds_are_not_its_transfers_is_reported(db):
    m = await a_month(db)
    await tamper(db, update(Charge).where(Charge.id == m.charge_id).values(refunded_cents=0))
    await assert_caught(
        db, f"charge {m.charge_id}: total 7000 vs transfers 7000; refunded 0 vs transfers 1000"
    )


async def test_money_spent_without_a_charge_is_reported(db):
    """5 EUR taken from the envelope as a ``charge`` transfer that no charge owns; the stored
    balance follows, so only the charge check can see it."""
    m = await a_month(db)
    payable = await provider_payable_id(db, m.w.provider_id)
    async with db.engine.begin() as conn:
        tid = (
            await conn.execute(
                insert(Transfer)
                .values(
                    organizer_id=m.w.organizer_id,
                    debit_account_id=m.envelope,
                    credit_account_id=payable,
                    amount_cents=500,
                    kind="charge",
                    period=JAN,
                    created_at=utcnow(),
                )
                .returning(Transfer.id)
            )
        ).scalar_one()
        await conn.execute(
            update(Account)
            .where(Account.id == m.envelope)
            .values(balance_cents=Account.balance_cents - 500)
        )
    violations = await assert_caught(db, f"charge transfer {tid} belongs to no charge")
    assert len(violations) == 1, violations


async def test_a_charge_whose_charge_transfer_is_gone_is_reported(db):
    """Its refund is still there: the charge's transfers are 0, not nothing."""
    m = await a_month(db)
    tid = await charge_transfer(db, m.charge_id)
    await tamper(db, delete(Transfer).where(Transfer.id == tid))
    await assert_caught(
        db, f"charge {m.charge_id}: total 7000 vs transfers 0; refunded 1000 vs transfers 1000"
    )


async def test_a_charge_never_refunded_shows_no_refund_transfers(db):
    w = await seed_world(db, period=JAN)
    charge_id = await charged(db, w, cleaning(2), now=at(JAN, 3))
    await assert_books_ok(db)
    await tamper(db, update(Charge).where(Charge.id == charge_id).values(total_cents=7100))
    await assert_caught(
        db, f"charge {charge_id}: total 7100 vs transfers 7000; refunded 0 vs transfers 0"
    )


async def test_a_charge_of_one_cent_without_any_transfer_is_reported(db):
    """The smallest charge there is, its money never moved (no transfer at all)."""
    w = await seed_world(db, period=JAN)
    charge_id = await charged(db, w, exactly(1), now=at(JAN, 3))
    await assert_books_ok(db)
    await tamper(db, delete(Transfer).where(Transfer.charge_id == charge_id))
    await assert_caught(
        db, f"charge {charge_id}: total 1 vs transfers None; refunded 0 vs transfers None"
    )


# --- 6. settlements ---------------------------------------------------------------------------


@dataclass
class Settled:
    """Provider A settled for 70 + 35 EUR (two lines), B for 35 EUR; B then charged 35 EUR
    more, not yet settled."""

    w: World
    a: uuid.UUID  # A's settlement
    b: uuid.UUID  # B's settlement
    a_transfer: int  # A's settlement transfer
    a_lines: dict[uuid.UUID, int]  # A's charge -> its charge transfer
    b_settled_transfer: int
    b_open_transfer: int


async def charge_transfer(db: Database, charge_id: uuid.UUID) -> int:
    return int(
        await one_id(
            db,
            select(Transfer.id).where(Transfer.charge_id == charge_id, Transfer.kind == "charge"),
        )
    )


async def settled(db: Database) -> Settled:
    w = await seed_world(db, period=JAN)
    await give_price(db, w.other_provider_id, "siivous", 3500)
    a1 = await charged(db, w, cleaning(2), now=at(JAN, 3))
    a2 = await charged(db, w, cleaning(1), now=at(JAN, 3))
    b1 = await charged(db, w, cleaning(1), now=at(JAN, 3), provider_id=w.other_provider_id)
    run = await settle_providers(db, date(2031, 1, 5), now=at(JAN, 6))
    by_provider = {s.provider_id: s for s in run.settled}
    assert by_provider[w.provider_id].amount_cents == 10_500
    b2 = await charged(db, w, cleaning(1), now=at(JAN, 7), provider_id=w.other_provider_id)
    a = by_provider[w.provider_id].settlement_id
    s = await settlement(db, a)
    await assert_books_ok(db)
    return Settled(
        w,
        a,
        by_provider[w.other_provider_id].settlement_id,
        int(s.transfer_id),
        {a1: await charge_transfer(db, a1), a2: await charge_transfer(db, a2)},
        await charge_transfer(db, b1),
        await charge_transfer(db, b2),
    )


async def settlement(db: Database, settlement_id: uuid.UUID) -> Settlement:
    async with UnitOfWork(db, readonly=True) as uow:
        found = await uow.session.get(Settlement, settlement_id)
        assert found is not None
        return found


async def test_a_settlement_that_is_not_its_lines_is_reported(db):
    st = await settled(db)
    a2_transfer = list(st.a_lines.values())[-1]
    await tamper(db, delete(SettlementLine).where(SettlementLine.transfer_id == a2_transfer))
    await assert_caught(db, f"settlement {st.a}: amount 10500 != its lines 7000")


async def test_a_settlement_that_is_not_its_transfer_is_reported(db):
    st = await settled(db)
    await tamper(
        db, update(Transfer).where(Transfer.id == st.a_transfer).values(amount_cents=10_400)
    )
    await assert_caught(db, f"settlement {st.a}: amount 10500 != its transfer 10400 (settlement)")


@pytest.mark.parametrize("side", ["debit", "credit"])
async def test_a_settlement_paid_the_wrong_way_is_reported(db, side):
    """Paid from another provider's payable account, or into the organizer's budget instead of
    its settlement account."""
    st = await settled(db)
    if side == "debit":
        values = {"debit_account_id": await provider_payable_id(db, st.w.other_provider_id)}
    else:
        budget = await organizer_account_id(db, st.w.organizer_id, AccountKind.ORGANIZER_BUDGET)
        values = {"credit_account_id": budget}
    await tamper(db, update(Transfer).where(Transfer.id == st.a_transfer).values(values))
    await assert_caught(
        db, f"settlement {st.a}: its transfer is not provider payable -> settlement"
    )


async def test_a_settlement_line_of_another_providers_charge_is_reported(db):
    """A's settlement pays for B's (still open) 35 EUR charge instead of A's own."""
    st = await settled(db)
    a2_transfer = list(st.a_lines.values())[-1]
    line_id = await one_id(
        db, select(SettlementLine.id).where(SettlementLine.transfer_id == a2_transfer)
    )
    await tamper(
        db,
        update(SettlementLine)
        .where(SettlementLine.id == line_id)
        .values(transfer_id=st.b_open_transfer),
    )
    violations = await assert_caught(
        db,
        f"settlement line {line_id}: transfer {st.b_open_transfer} is not its provider's "
        "movement as booked",
    )
    assert len(violations) == 1, violations


async def test_a_settlement_transfer_without_its_settlement_is_reported(db):
    st = await settled(db)
    payable = await provider_payable_id(db, st.w.provider_id)
    settlement_acc = await organizer_account_id(db, st.w.organizer_id, AccountKind.SETTLEMENT)
    async with db.engine.begin() as conn:
        tid = (
            await conn.execute(
                insert(Transfer)
                .values(
                    organizer_id=st.w.organizer_id,
                    debit_account_id=payable,
                    credit_account_id=settlement_acc,
                    amount_cents=100,
                    kind="settlement",
                    period=JAN,
                    created_at=utcnow(),
                )
                .returning(Transfer.id)
            )
        ).scalar_one()
    violations = await assert_caught(db, f"settlement transfer {tid} has no settlement")
    assert len(violations) == 1, violations


async def test_a_charge_settled_twice_is_reported(pg_db):
    """Only with ``uq_settlement_lines_transfer_id`` lifted: the schema refuses it on both
    engines (``test_backstops.py``)."""
    db = pg_db
    st = await settled(db)
    a1, a1_transfer = next(iter(st.a_lines.items()))
    async with constraint_lifted(db, "settlement_lines", "uq_settlement_lines_transfer_id") as w:
        await w(
            insert(SettlementLine).values(
                settlement_id=st.b,
                transfer_id=a1_transfer,
                charge_id=a1,
                kind="charge",
                period=JAN,
                amount_cents=7000,
                booked_at=at(JAN, 3),
            )
        )
        await assert_caught(db, f"transfer {a1_transfer} is in 2 settlements")


# --- 7. holds ---------------------------------------------------------------------------------


@dataclass
class Holds:
    """One open visit hold of 38 EUR, and one of 76 EUR captured at 38 EUR."""

    w: World
    open: uuid.UUID
    captured: uuid.UUID
    hold_account: int
    envelope: int


async def visit(db: Database, w: World, lines: list[ChargeLineInput], day: int) -> uuid.UUID:
    out = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=PHONE),
        lines=lines,
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
        trusted_only=True,
        now=at(JAN, day),
    )
    return uuid.UUID(out.body["id"])


async def holds(db: Database) -> Holds:
    w = await seed_world(db, period=JAN)
    open_hold = await visit(db, w, home_help(1), 5)
    done = await visit(db, w, home_help(2), 6)
    await capture_hold(
        db,
        provider_id=w.provider_id,
        hold_id=done,
        lines=home_help(1),
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
        now=at(JAN, 6, 13),
    )
    hold_account = await one_id(
        db, select(HoldLine.hold_account_id).where(HoldLine.hold_id == open_hold)
    )
    env = await envelope(db, w.wallet_id)
    await assert_books_ok(db)
    return Holds(w, open_hold, done, int(hold_account), env.id)


async def test_a_hold_closed_without_releasing_its_money_is_reported(db):
    h = await holds(db)
    await tamper(db, update(Hold).where(Hold.id == h.open).values(status="voided"))
    violations = await assert_caught(
        db, f"hold account {h.hold_account}: balance 3800 != open holds 0"
    )
    assert len(violations) == 1, violations


async def test_an_open_hold_that_points_at_no_hold_account_is_reported(db):
    h = await holds(db)
    await tamper(
        db,
        update(HoldLine).where(HoldLine.hold_id == h.open).values(hold_account_id=h.envelope),
    )
    await assert_caught(db, f"open holds of 3800 point at account {h.envelope}, not a hold account")


async def test_a_captured_hold_that_is_not_its_charge_is_reported(db):
    h = await holds(db)
    await tamper(db, update(Hold).where(Hold.id == h.captured).values(captured_cents=3700))
    violations = await assert_caught(
        db, f"hold {h.captured}: captured 3700 but its charge took 3800"
    )
    assert len(violations) == 1, violations


# --- 8. the organizer's reports (and statements) reconcile with the ledger ---------------------


async def test_a_report_that_is_not_the_ledger_is_reported(db):
    """A refund of a closed month went to the organizer's budget (``refund_closed``) but is
    booked as a refund to the client: the ledger says January's client got 10 EUR back, the
    report (and the client's statement, which read the envelope) say not."""
    m = await closed_january(db)
    refunded = await refund(db, m.w, m.charge_id, 1000, reason="tamper test", now=at(FEB, 3))
    assert refunded.body["returned_to"] == "organizer"
    await assert_books_ok(db)
    (t,) = await transfers(db, kind="refund_closed")
    await tamper(db, update(Transfer).where(Transfer.id == t.id).values(kind="refund"))
    report = {"funded": 30_000, "spent": 7000, "refunded": 0, "expired": 23_000}
    ledger = {**report, "refunded": 1000}
    violations = await assert_caught(
        db, f"report of organizer {m.w.organizer_id} for {JAN}: {report} != ledger {ledger}"
    )
    assert len(violations) == 1, violations


async def test_a_month_on_one_side_only_is_reported(db):
    """January's funding is booked to another organizer, one that has no clients: the ledger
    then has no January for the first organizer, whose report still shows it, and a January
    for the second, whose report has none. Both sides are named, with zeros for the missing
    one."""
    w = await seed_world(db, period=JAN)
    other = await catalogue.create_organizer(db, slug=f"oulu-{uuid.uuid4().hex[:6]}", name="Oulu")
    (funding,) = await transfers(db, kind="funding")
    await tamper(db, update(Transfer).where(Transfer.id == funding.id).values(organizer_id=other))
    zero = {"funded": 0, "spent": 0, "refunded": 0, "expired": 0}
    funded = {**zero, "funded": 30_000}
    violations = await assert_caught(
        db, f"report of organizer {w.organizer_id} for {JAN}: {funded} != ledger {zero}"
    )
    assert f"report of organizer {other} for {JAN}: {zero} != ledger {funded}" in violations


# --- the command --------------------------------------------------------------------------------


def test_wallet_check_exits_1_and_lists_what_it_found(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder: dict[str, Any] = {}

    async def seed() -> None:
        db = create_database(database_url)
        if db.is_postgres:
            await truncate(db)
        holder["month"] = await a_month(db)
        await db.dispose()

    async def nudge() -> None:
        db = create_database(database_url)
        env = holder["month"].envelope
        await tamper(db, update(Account).where(Account.id == env).values(balance_cents=24_100))
        await db.dispose()

    asyncio.run(seed())
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    runner = CliRunner()
    fine = runner.invoke(main, ["check"])
    assert fine.exit_code == 0, fine.output
    assert "OK: the books balance." in fine.output

    asyncio.run(nudge())
    broken = runner.invoke(main, ["check"])
    assert broken.exit_code == 1, broken.output
    said = " ".join(broken.output.split())
    env = holder["month"].envelope
    assert "2 violation(s):" in said
    assert f"- envelope account {env}: stored balance 24100 != transfers 24000" in said
    assert f"- envelope {env}: periods close at 24000, balance is 24100" in said
    assert "OK" not in said
