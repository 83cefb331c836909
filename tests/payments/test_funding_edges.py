"""Monthly funding at its edges (both engines): several organizers in one batch, carry-over per
envelope, a decision ending on the 1st, a pro-rated cent, hold accounts, late reruns of a closed
month, progress on an empty database, and batches written within one clock tick."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import select

from payments import clock
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.visits import create_visit_hold
from payments.db import Database
from payments.ledger.periods import current_period, first_day, next_period
from payments.models import Account, OutboxEvent
from payments.outbox import ENVELOPE_FUNDED, REMAINDER_EXPIRED
from payments.results import Happened
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import (
    account_balance,
    add_client_with_decision,
    assert_books_ok,
    envelope,
    envelopes,
    organizer_account_id,
    row_counts,
    seed_world,
    transfers,
)
from tests.support.money import by_phone, by_wallet, charge, cleaning

OTHER = "040 765 0001"  # the second county's client


async def _events(db: Database) -> list[tuple[str, int | None]]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = await uow.session.execute(
            select(OutboxEvent.type, OutboxEvent.transfer_id)
            .where(OutboxEvent.type.in_((ENVELOPE_FUNDED, REMAINDER_EXPIRED)))
            .order_by(OutboxEvent.id)
        )
        return [(t, tid) for t, tid in rows.all()]


async def test_progress_on_a_database_without_envelopes_is_zero_of_zero(db):
    calls: list[tuple[int, int]] = []
    summary = await fund_period(db, "2031-01", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 0)]
    assert (summary.envelopes_seen, summary.batches, summary.funded_count) == (0, 0, 0)


async def test_two_organizers_in_one_batch_use_their_own_budget_and_expired_accounts(db):
    """Two counties' envelopes in one batch (one full month each, one pro-rated): each is
    funded once from its own county's budget, and expires into its own county's account.
    With batches of one, progress and batches count envelopes only, not the second county's
    own accounts that lie between the envelopes' ids."""
    a = await seed_world(db, fund=False, period="2031-04", monthly_cents=10_000)
    b = await seed_world(db, fund=False, period="2031-04", monthly_cents=20_000, phone=OTHER)
    late = await add_client_with_decision(
        db,
        b,
        phone="040 555 0009",
        lines=[DecisionLineInput("Siivous", 30_000, ("siivous",))],
        valid_from=date(2031, 4, 11),  # 20 days of 30
    )
    april = await fund_period(db, "2031-04")
    assert (april.funded_count, april.funded_cents) == (3, 10_000 + 20_000 + 20_000)
    assert (april.expired_count, april.expired_cents) == (0, 0)
    assert (await envelope(db, late.wallet_id)).balance_cents == 20_000
    budget_a = await organizer_account_id(db, a.organizer_id, AccountKind.ORGANIZER_BUDGET)
    budget_b = await organizer_account_id(db, b.organizer_id, AccountKind.ORGANIZER_BUDGET)
    assert await account_balance(db, budget_a) == -10_000
    assert await account_balance(db, budget_b) == -40_000

    calls: list[tuple[int, int]] = []
    may = await fund_period(db, "2031-05", batch_size=1, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)] and may.batches == 3
    assert (may.expired_count, may.expired_cents) == (3, 50_000)
    assert (may.funded_count, may.funded_cents) == (3, 60_000)
    expired_a = await organizer_account_id(db, a.organizer_id, AccountKind.EXPIRED)
    expired_b = await organizer_account_id(db, b.organizer_id, AccountKind.EXPIRED)
    assert await account_balance(db, expired_a) == 10_000
    assert await account_balance(db, expired_b) == 40_000
    assert await account_balance(db, budget_a) == -20_000
    assert await account_balance(db, budget_b) == -90_000
    await assert_books_ok(db)


async def test_carry_over_is_decided_per_envelope(db):
    """A capped and an uncapped envelope closed in the same batch: each by its own decision."""
    w = await seed_world(
        db,
        fund=False,
        period="2031-01",
        monthly_cents=10_000,
        carry_over="capped",
        carry_cap_cents=3000,
    )
    other = await add_client_with_decision(
        db,
        w,
        phone="040 555 0005",
        lines=[DecisionLineInput("Siivous", 10_000, ("siivous",))],
        valid_from=date(2031, 1, 1),
    )
    await fund_period(db, "2031-01")
    feb = await fund_period(db, "2031-02")
    assert (feb.expired_count, feb.expired_cents) == (2, 7000 + 10_000)
    assert (await envelope(db, w.wallet_id)).balance_cents == 3000 + 10_000
    assert (await envelope(db, other.wallet_id)).balance_cents == 10_000
    await assert_books_ok(db)


async def test_a_decision_ending_on_the_first_is_funded_for_that_one_day(db):
    # May 2031 has 31 days: one of them is 1/31 of the monthly amount.
    w = await seed_world(
        db, fund=False, period="2031-04", monthly_cents=31_000, valid_to=date(2031, 5, 1)
    )
    await fund_period(db, "2031-04")
    may = await fund_period(db, "2031-05")
    assert (may.funded_count, may.funded_cents) == (1, 1000)
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period) == (1000, "2031-05")
    await assert_books_ok(db)


async def test_a_prorated_amount_of_exactly_one_cent_is_moved(db):
    # 30 cents a month for one day of April's 30 is one cent.
    w = await seed_world(
        db, fund=False, period="2031-04", monthly_cents=30, valid_from=date(2031, 4, 30)
    )
    summary = await fund_period(db, "2031-04")
    assert (summary.funded_count, summary.funded_cents) == (1, 1)
    assert (await envelope(db, w.wallet_id)).balance_cents == 1
    assert [t.amount_cents for t in await transfers(db, kind="funding")] == [1]
    await assert_books_ok(db)


async def test_a_late_rerun_of_a_closed_month_moves_nothing(db):
    """January was funded and closed (February's run expired it; the decision ended, so
    February funded nothing): running January again must not fund it a second time."""
    w = await seed_world(
        db, fund=False, period="2031-01", monthly_cents=10_000, valid_to=date(2031, 1, 31)
    )
    await fund_period(db, "2031-01")
    await fund_period(db, "2031-02")
    env = await envelope(db, w.wallet_id)
    assert (env.funded_period, env.expired_period, env.balance_cents) == ("2031-01", "2031-01", 0)
    counts = await row_counts(db)
    again = await fund_period(db, "2031-01")
    assert (again.funded_count, again.expired_count) == (0, 0)
    assert await row_counts(db) == counts
    assert await envelope(db, w.wallet_id) == env
    await assert_books_ok(db)


async def test_a_hold_account_is_never_funded(db):
    """A hold account belongs to the envelope's decision line too, but only envelopes are
    funded: next month's run leaves the held money where it is (the hold account lies between
    the two envelopes, inside the batch)."""
    period = current_period()
    w = await seed_world(db, period=period, monthly_cents=30_000)
    out = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=by_phone(),
        lines=cleaning(2),
        idempotency_key=uuid.uuid4().hex,
        request_hash="h",
        trusted_only=True,
    )
    assert out.what is Happened.CREATED
    async with UnitOfWork(db, readonly=True) as uow:
        (hold_acc,) = (
            (await uow.session.execute(select(Account.id).where(Account.kind == AccountKind.HOLD)))
            .scalars()
            .all()
        )
    held = await account_balance(db, hold_acc)
    assert held == 7000
    nxt = next_period(period)
    later = await add_client_with_decision(
        db,
        w,
        phone="040 555 0007",
        lines=[DecisionLineInput("Siivous", 5000, ("siivous",))],
        valid_from=first_day(nxt),
    )
    summary = await fund_period(db, nxt)
    assert (summary.funded_count, summary.funded_cents) == (2, 35_000)
    fundings = [t for t in await transfers(db, kind="funding") if t.period == nxt]
    envs = [(await envelope(db, x)).id for x in (w.wallet_id, later.wallet_id)]
    assert envs[0] < hold_acc < envs[1]
    assert [t.credit_account_id for t in fundings] == envs
    assert await account_balance(db, hold_acc) == held
    await assert_books_ok(db)


async def test_batches_within_one_clock_tick_count_and_announce_each_transfer_once(db, monkeypatch):
    """A coarse clock gives every step of a run (and a charge just before it) the same
    instant: each batch must still count and announce only its own transfers of its own kind.
    Envelope order: county A's, county B's (B's own accounts lie between), A's second."""
    a = await seed_world(db, fund=False, period="2031-01", monthly_cents=10_000)
    b = await seed_world(db, fund=False, period="2031-01", monthly_cents=20_000, phone=OTHER)
    second = await add_client_with_decision(
        db,
        a,
        phone="040 555 0006",
        lines=[DecisionLineInput("Siivous", 5000, ("siivous",))],
        valid_from=date(2031, 1, 1),
    )
    await fund_period(db, "2031-01")
    tick = datetime(2031, 1, 31, 12, tzinfo=UTC)
    monkeypatch.setattr(clock, "source", lambda: tick)
    out = await charge(db, a, cleaning(1), customer=by_wallet(a), key="tick", now=tick)
    assert out.what is Happened.CREATED
    before = await _events(db)

    feb = await fund_period(db, "2031-02", batch_size=2)
    assert (feb.expired_count, feb.expired_cents) == (3, 10_000 - 3500 + 20_000 + 5000)
    assert (feb.funded_count, feb.funded_cents) == (3, 35_000)
    assert feb.batches == 2
    fundings = [t for t in await transfers(db, kind="funding") if t.period == "2031-02"]
    expected = [(ENVELOPE_FUNDED, t.id) for t in fundings] + [
        (REMAINDER_EXPIRED, t.id) for t in await transfers(db, kind="expiry")
    ]
    new = (await _events(db))[len(before) :]
    assert sorted(new, key=lambda e: e[1] or 0) == sorted(expected, key=lambda e: e[1] or 0)
    assert len(new) == 6
    assert [e.balance_cents for e in await envelopes(db)] == [10_000, 20_000, 5000]
    del b, second
    await assert_books_ok(db)
