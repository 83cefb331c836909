"""Monthly funding: expiry then top-up, idempotent per (envelope, period), restartable, pro-rated,
carry-over capped. Explicit periods in 2031 so the month can be advanced at will."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import date

from sqlalchemy import select

from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import FundingSummary, fund_period
from payments.db import Database
from payments.errors import NotInBudget
from payments.ledger.periods import prorated_cents
from payments.models import OutboxEvent
from payments.outbox import ENVELOPE_FUNDED, REMAINDER_EXPIRED
from payments.reporting.wallet_views import wallet_view
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import (
    BulkDecision,
    World,
    account_balance,
    add_client_with_decision,
    assert_books_ok,
    assert_refused,
    at,
    bulk_envelopes,
    envelope,
    envelopes,
    organizer_account_id,
    row_counts,
    seed_world,
    transfers,
)
from tests.support.money import by_wallet, charge, cleaning


async def spend(
    db: Database, w: World, cents: int, period: str, *, wallet_id=None, day: int = 15
) -> None:
    """Charge exactly ``cents`` of cleaning (list price 3500 an hour) on the 15th of ``period``:
    whole hours, plus one hour at a lower price for the rest."""
    hours, rest = divmod(cents, 3500)
    lines = (cleaning(hours) if hours else []) + (cleaning(1, rest) if rest else [])
    await charge(
        db,
        w,
        lines,
        customer=by_wallet(wallet_id or w.wallet_id),
        key=f"{wallet_id or w.wallet_id}:{period}:{cents}:{day}",
        now=at(period, day),
    )


async def test_funding_twice_moves_nothing_the_second_time(db):
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=30_000)
    await add_client_with_decision(
        db,
        w,
        phone="040 555 0001",
        lines=[DecisionLineInput("Kuljetus", 12_000, ("kuljetus",))],
        valid_from=date(2031, 1, 1),
    )
    first = await fund_period(db, "2031-01")
    assert (first.funded_count, first.funded_cents, first.expired_count) == (2, 42_000, 0)
    counts, envs = await row_counts(db), await envelopes(db)
    assert [e.balance_cents for e in envs] == [30_000, 12_000]
    assert [e.funded_period for e in envs] == ["2031-01", "2031-01"]

    again = await fund_period(db, "2031-01")
    assert (again.funded_count, again.funded_cents, again.expired_count) == (0, 0, 0)
    assert await row_counts(db) == counts
    assert await envelopes(db) == envs
    await assert_books_ok(db)

    # An older month, run late, moves nothing either.
    late = await fund_period(db, "2030-12")
    assert (late.funded_count, late.expired_count) == (0, 0)
    assert await row_counts(db) == counts

    await spend(db, w, 5000, "2031-01")
    second = await fund_period(db, "2031-02")
    assert (second.expired_count, second.expired_cents) == (2, 25_000 + 12_000)
    assert (second.funded_count, second.funded_cents) == (2, 42_000)
    counts, envs = await row_counts(db), await envelopes(db)
    again = await fund_period(db, "2031-02")
    assert (again.funded_count, again.expired_count) == (0, 0)
    assert await row_counts(db) == counts and await envelopes(db) == envs
    await assert_books_ok(db)


async def test_a_run_killed_after_expiry_is_completed_by_a_rerun(db):
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=10_000)
    await fund_period(db, "2031-01")
    await spend(db, w, 3500, "2031-01")

    await fund_period(db, "2031-02", stop_after="expiry")
    env = await envelope(db, w.wallet_id)
    assert env.balance_cents == 0  # the remainder expired...
    assert (env.funded_period, env.expired_period) == ("2031-01", "2031-01")  # ...not funded
    (exp,) = await transfers(db, kind="expiry")
    assert (exp.debit_account_id, exp.amount_cents, exp.period) == (env.id, 6500, "2031-01")
    assert [t.period for t in await transfers(db, kind="funding")] == ["2031-01"]
    await assert_books_ok(db)

    # Killed again at the same point: the expiry is not repeated.
    await fund_period(db, "2031-02", stop_after="expiry")
    assert len(await transfers(db, kind="expiry")) == 1

    summary = await fund_period(db, "2031-02")
    assert (summary.expired_count, summary.funded_count, summary.funded_cents) == (0, 1, 10_000)
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period, env.expired_period) == (
        10_000,
        "2031-02",
        "2031-01",
    )
    expiries = await transfers(db, kind="expiry")
    fundings = [t for t in await transfers(db, kind="funding") if t.period == "2031-02"]
    assert [t.dedupe_key for t in expiries] == [f"expire:{env.id}:2031-01"]
    assert [t.dedupe_key for t in fundings] == [f"fund:{env.id}:2031-02"]
    assert (
        await account_balance(
            db, await organizer_account_id(db, w.organizer_id, AccountKind.EXPIRED)
        )
        == 6500
    )
    await assert_books_ok(db)


async def test_a_run_killed_in_a_later_batch_is_completed_by_a_rerun(db):
    """Seven envelopes in batches of three: the kill leaves the first batch expired only and the
    rest untouched; the rerun finishes all of them with one expiry and one funding each."""
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=10_000)
    for i in range(6):
        await add_client_with_decision(
            db,
            w,
            phone=f"040 555 00{i:02d}",
            lines=[DecisionLineInput("Siivous", 5000 + i, ("siivous",))],
            valid_from=date(2031, 1, 1),
        )
    await fund_period(db, "2031-01", batch_size=3)
    await spend(db, w, 1000, "2031-01")
    before = await envelopes(db)

    await fund_period(db, "2031-02", batch_size=3, stop_after="expiry")
    mid = await envelopes(db)
    assert [e.expired_period for e in mid] == ["2031-01"] * 3 + [None] * 4
    assert [e.balance_cents for e in mid] == [0, 0, 0] + [e.balance_cents for e in before[3:]]
    assert all(e.funded_period == "2031-01" for e in mid)
    await assert_books_ok(db)

    done = await fund_period(db, "2031-02", batch_size=3)
    assert (done.expired_count, done.funded_count) == (4, 7)
    after = await envelopes(db)
    assert [e.balance_cents for e in after] == [10_000] + [5000 + i for i in range(6)]
    assert all((e.funded_period, e.expired_period) == ("2031-02", "2031-01") for e in after)
    expiries = Counter(t.debit_account_id for t in await transfers(db, kind="expiry"))
    fundings = Counter(
        t.credit_account_id for t in await transfers(db, kind="funding") if t.period == "2031-02"
    )
    assert set(expiries.values()) == {1} and len(expiries) == 7
    assert set(fundings.values()) == {1} and len(fundings) == 7
    await assert_books_ok(db)


async def test_a_decision_starting_on_day_11_of_a_30_day_month_is_prorated(db):
    # April 2031 has 30 days; from the 11th that is 20 days of 30.
    w = await seed_world(
        db, fund=False, period="2031-04", valid_from=date(2031, 4, 11), monthly_cents=10_000
    )
    await fund_period(db, "2031-04")
    expected = prorated_cents(10_000, "2031-04", date(2031, 4, 11), None)
    assert expected == 10_000 * 20 // 30 == 6666
    assert (await envelope(db, w.wallet_id)).balance_cents == 6666
    (t,) = await transfers(db, kind="funding")
    assert (t.amount_cents, t.period) == (6666, "2031-04")
    view = await wallet_view(db, w.wallet_id)
    assert view["envelopes"][0]["funded_cents"] == 6666
    await assert_books_ok(db)

    # The next month is a full one.
    await fund_period(db, "2031-05")
    assert (await envelope(db, w.wallet_id)).balance_cents == 10_000
    await assert_books_ok(db)


async def test_prorating_rounds_down_to_the_cent(db):
    w = await seed_world(
        db, fund=False, period="2031-04", valid_from=date(2031, 4, 11), monthly_cents=30_001
    )
    await fund_period(db, "2031-04")
    # 30,001 x 20 / 30 = 20,000.67: never more than granted.
    assert (await envelope(db, w.wallet_id)).balance_cents == 20_000
    assert prorated_cents(30_001, "2031-04", date(2031, 4, 11), None) == 20_000
    await assert_books_ok(db)


async def test_a_decision_ending_mid_month_is_prorated_then_stops(db):
    w = await seed_world(
        db,
        fund=False,
        period="2031-03",
        valid_to=date(2031, 4, 15),
        monthly_cents=10_000,
    )
    await fund_period(db, "2031-03")
    assert (await envelope(db, w.wallet_id)).balance_cents == 10_000  # March in full
    await spend(db, w, 2000, "2031-03")
    await fund_period(db, "2031-04")
    # March's 8,000 expires; April: the 1st to the 15th, 15 days of 30.
    assert prorated_cents(10_000, "2031-04", date(2031, 3, 1), date(2031, 4, 15)) == 5000
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period) == (5000, "2031-04")
    await assert_books_ok(db)

    # After the decision ended, May's run expires April's remainder and funds nothing.
    may = await fund_period(db, "2031-05")
    assert (may.expired_cents, may.funded_count) == (5000, 0)
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period, env.expired_period) == (0, "2031-04", "2031-04")
    counts = await row_counts(db)
    await fund_period(db, "2031-06")
    assert await row_counts(db) == counts
    await assert_books_ok(db)


async def test_a_decision_within_one_month(db):
    # 10 days of February 2031's 28; and of February 2032's 29 (leap year).
    w = await seed_world(
        db,
        fund=False,
        period="2031-02",
        valid_from=date(2031, 2, 10),
        valid_to=date(2031, 2, 19),
        monthly_cents=10_000,
    )
    await add_client_with_decision(
        db,
        w,
        phone="040 555 0002",
        lines=[DecisionLineInput("Siivous", 10_000, ("siivous",))],
        valid_from=date(2032, 2, 10),
        valid_to=date(2032, 2, 19),
    )
    await fund_period(db, "2031-02")
    assert [e.balance_cents for e in await envelopes(db)] == [10_000 * 10 // 28, 0] == [3571, 0]
    await assert_books_ok(db)
    # A year later the first has ended (its February expires), the second starts.
    await fund_period(db, "2032-02")
    assert [e.balance_cents for e in await envelopes(db)] == [0, 10_000 * 10 // 29] == [0, 3448]
    await assert_books_ok(db)


async def test_carry_over_capped_keeps_up_to_the_cap_and_expires_the_rest(db):
    monthly, cap = 10_000, 3000
    w = await seed_world(
        db,
        fund=False,
        period="2031-01",
        monthly_cents=monthly,
        carry_over="capped",
        carry_cap_cents=cap,
    )
    expired_acc = await organizer_account_id(db, w.organizer_id, AccountKind.EXPIRED)

    async def month(period: str, expect_expired: int, expect_balance: int) -> None:
        before = await account_balance(db, expired_acc)
        await fund_period(db, period)
        env = await envelope(db, w.wallet_id)
        assert await account_balance(db, expired_acc) - before == expect_expired
        assert env.balance_cents == expect_balance
        assert env.balance_cents <= monthly + cap
        await assert_books_ok(db)

    await month("2031-01", 0, 10_000)
    await spend(db, w, 4000, "2031-01")  # 6,000 left: 3,000 stays, 3,000 expires
    await month("2031-02", 3000, 3000 + 10_000)
    # Nothing spent in February: 13,000 left, still only 3,000 stays.
    await month("2031-03", 10_000, 13_000)
    await spend(db, w, 11_000, "2031-03")  # 2,000 left, under the cap: nothing expires
    await month("2031-04", 0, 12_000)
    assert [t.period for t in await transfers(db, kind="expiry")] == ["2031-01", "2031-02"]
    await spend(db, w, 12_000, "2031-04")  # all spent: nothing to carry, nothing to expire
    await month("2031-05", 0, 10_000)
    # Twice is still once.
    counts = await row_counts(db)
    await month("2031-05", 0, 10_000)
    assert await row_counts(db) == counts


async def test_carry_over_ends_with_the_decision(db):
    w = await seed_world(
        db,
        fund=False,
        period="2031-01",
        monthly_cents=10_000,
        carry_over="capped",
        carry_cap_cents=3000,
        valid_to=date(2031, 1, 31),
    )
    await fund_period(db, "2031-01")
    await spend(db, w, 1000, "2031-01")
    feb = await fund_period(db, "2031-02")
    assert (feb.expired_cents, feb.funded_count) == (9000, 0)  # all of it, not just above the cap
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period, env.expired_period) == (0, "2031-01", "2031-01")
    await assert_refused(
        db,
        NotInBudget,
        charge(db, w, cleaning(1, 100), customer=by_wallet(w), key="late", now=at("2031-02")),
    )
    await assert_books_ok(db)


async def test_carry_over_into_a_prorated_last_month(db):
    """A decision ending mid-February still carries January's money into February (it is
    valid in February), then February's pro-rated part is added on top."""
    w = await seed_world(
        db,
        fund=False,
        period="2031-01",
        monthly_cents=28_000,
        carry_over="capped",
        carry_cap_cents=5000,
        valid_to=date(2031, 2, 14),
    )
    await fund_period(db, "2031-01")
    await spend(db, w, 20_000, "2031-01")  # 8,000 left: 5,000 stays
    await fund_period(db, "2031-02")
    assert (await envelope(db, w.wallet_id)).balance_cents == 5000 + 28_000 * 14 // 28
    await assert_books_ok(db)


async def test_a_decision_starting_next_month_is_not_funded_this_month(db):
    w = await seed_world(db, fund=False, period="2031-02", monthly_cents=10_000)
    jan = await fund_period(db, "2031-01")
    assert jan.funded_count == 0
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period) == (0, None)
    assert await transfers(db, kind="funding") == []
    await assert_refused(
        db,
        NotInBudget,
        charge(
            db, w, cleaning(1, 100), customer=by_wallet(w), key="early", now=at("2031-01", 31, 23)
        ),
    )
    feb = await fund_period(db, "2031-02")
    assert (feb.funded_count, feb.funded_cents, feb.expired_count) == (1, 10_000, 0)
    assert (await envelope(db, w.wallet_id)).funded_period == "2031-02"
    await assert_books_ok(db)


async def test_funding_draws_on_the_organizers_budget(db):
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=10_000)
    budget = await organizer_account_id(db, w.organizer_id, AccountKind.ORGANIZER_BUDGET)
    await fund_period(db, "2031-01")
    await spend(db, w, 4000, "2031-01")
    await fund_period(db, "2031-02")
    # The budget is debited for each month's funding; expiries go to the expired account.
    assert await account_balance(db, budget) == -20_000
    expired = await organizer_account_id(db, w.organizer_id, AccountKind.EXPIRED)
    assert await account_balance(db, expired) == 6000
    report = await assert_books_ok(db)
    assert report.periods["2031-01"].closing == 0
    assert report.periods["2031-02"].closing == 10_000


async def test_two_thousand_envelopes_in_batches_of_500(db):
    w = await seed_world(db, fund=False, period="2031-04", monthly_cents=10_000)
    rng = random.Random(2031)
    decisions: list[BulkDecision] = []
    for i in range(2000):
        monthly = rng.randrange(1000, 100_000)
        if i % 10 == 3:  # starts mid-month: pro-rated
            decisions.append(BulkDecision(monthly, date(2031, 4, rng.randrange(2, 31))))
        elif i % 10 == 7:  # ends mid-month: pro-rated
            decisions.append(BulkDecision(monthly, date(2031, 1, 1), date(2031, 4, 20)))
        elif i % 50 == 9:  # starts next month: not funded
            decisions.append(BulkDecision(monthly, date(2031, 5, 1)))
        elif i % 50 == 19:  # ended last month: not funded
            decisions.append(BulkDecision(monthly, date(2031, 1, 1), date(2031, 3, 31)))
        else:
            decisions.append(BulkDecision(monthly, date(2031, 1, 1)))
    await bulk_envelopes(db, w.organizer_id, "siivous", decisions)
    all_decisions = [BulkDecision(10_000, date(2031, 4, 1)), *decisions]
    expected = [
        prorated_cents(d.monthly_cents, "2031-04", d.valid_from, d.valid_to) for d in all_decisions
    ]

    calls: list[tuple[int, int]] = []
    summary: FundingSummary = await fund_period(
        db, "2031-04", batch_size=500, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(500, 2001), (1000, 2001), (1500, 2001), (2000, 2001), (2001, 2001)]
    assert summary.batches == 5 and summary.envelopes_seen == 2001
    assert summary.funded_count == sum(1 for e in expected if e > 0)
    assert summary.funded_cents == sum(expected)
    envs = await envelopes(db)
    assert [e.balance_cents for e in envs] == expected
    assert [e.funded_period for e in envs] == ["2031-04" if e > 0 else None for e in expected]
    report = await assert_books_ok(db)
    assert report.envelopes == 2001 and report.periods["2031-04"].funded == sum(expected)

    counts = await row_counts(db)
    calls.clear()
    again = await fund_period(
        db, "2031-04", batch_size=500, progress=lambda d, t: calls.append((d, t))
    )
    assert (again.funded_count, again.expired_count) == (0, 0)
    assert await row_counts(db) == counts
    assert [d for d, _ in calls] == [500, 1000, 1500, 2000, 2001]

    may = await fund_period(db, "2031-05", batch_size=500)
    may_expected = [
        prorated_cents(d.monthly_cents, "2031-05", d.valid_from, d.valid_to) for d in all_decisions
    ]
    assert may.expired_cents == sum(expected)
    assert may.funded_cents == sum(may_expected)
    assert [e.balance_cents for e in await envelopes(db)] == may_expected
    await assert_books_ok(db)


async def _events(db: Database, *types: str) -> list[tuple[str, object, int | None]]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = await uow.session.execute(
            select(OutboxEvent.type, OutboxEvent.wallet_id, OutboxEvent.transfer_id)
            .where(OutboxEvent.type.in_(types))
            .order_by(OutboxEvent.id)
        )
        return [(t, w, tid) for t, w, tid in rows.all()]


async def test_one_event_per_funding_and_expiry_transfer_for_the_envelopes_wallet(db):
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=10_000)
    other = await add_client_with_decision(
        db,
        w,
        phone="040 555 0003",
        lines=[DecisionLineInput("Siivous", 7000, ("siivous",))],
        valid_from=date(2031, 1, 1),
    )
    await fund_period(db, "2031-01")
    await spend(db, w, 10_000, "2031-01")  # the first envelope is empty: nothing to expire
    await fund_period(db, "2031-02")
    await fund_period(db, "2031-02")  # a rerun writes no second event

    envs = {e.id: e for e in await envelopes(db)}
    wallet_of = {}
    for wallet in (w.wallet_id, other.wallet_id):
        wallet_of[(await envelope(db, wallet)).id] = wallet
    expected = []
    for t in await transfers(db, kind="funding"):
        expected.append((ENVELOPE_FUNDED, wallet_of[t.credit_account_id], t.id))
    for t in await transfers(db, kind="expiry"):
        expected.append((REMAINDER_EXPIRED, wallet_of[t.debit_account_id], t.id))
    assert len(expected) == 5 and len(envs) == 2  # 2 + 2 fundings, 1 expiry
    got = await _events(db, ENVELOPE_FUNDED, REMAINDER_EXPIRED)
    assert sorted(got, key=lambda e: e[2] or 0) == sorted(expected, key=lambda e: e[2] or 0)


async def test_a_prorated_amount_that_rounds_to_nothing_moves_nothing_but_marks_the_month(db):
    # 1 cent a month for one day of April's 30 rounds down to 0: no transfer, no event; the
    # month is still marked funded, so a rerun does not look at it again.
    w = await seed_world(db, fund=False, period="2031-04", monthly_cents=10_000)
    tiny = await add_client_with_decision(
        db,
        w,
        phone="040 555 0004",
        lines=[DecisionLineInput("Siivous", 1, ("siivous",))],
        valid_from=date(2031, 4, 30),
    )
    summary = await fund_period(db, "2031-04")
    assert (summary.funded_count, summary.funded_cents) == (1, 10_000)
    env = await envelope(db, tiny.wallet_id)
    assert (env.balance_cents, env.funded_period) == (0, "2031-04")
    assert [t.credit_account_id for t in await transfers(db, kind="funding")] == [
        (await envelope(db, w.wallet_id)).id
    ]
    assert len(await _events(db, ENVELOPE_FUNDED)) == 1
    # May is a full month for it.
    await fund_period(db, "2031-05")
    assert (await envelope(db, tiny.wallet_id)).balance_cents == 1
    await assert_books_ok(db)


async def test_two_runs_at_once_fund_each_envelope_once(db):
    """Two processes starting the same month together (a manual run during the scheduled one):
    every envelope is expired and funded exactly once, whichever run gets there first."""
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=10_000)
    decisions = [BulkDecision(1000 + i, date(2031, 1, 1)) for i in range(40)]
    await bulk_envelopes(db, w.organizer_id, "siivous", decisions)
    await fund_period(db, "2031-01", batch_size=7)
    await spend(db, w, 2500, "2031-01")

    a, b = await asyncio.gather(
        fund_period(db, "2031-02", batch_size=7), fund_period(db, "2031-02", batch_size=5)
    )
    assert a.funded_count + b.funded_count == 41
    assert a.expired_count + b.expired_count == 41
    assert a.funded_cents + b.funded_cents == 10_000 + sum(d.monthly_cents for d in decisions)
    fundings = Counter(
        t.credit_account_id for t in await transfers(db, kind="funding") if t.period == "2031-02"
    )
    assert len(fundings) == 41 and set(fundings.values()) == {1}
    assert len(await _events(db, ENVELOPE_FUNDED)) == 82
    assert (await envelope(db, w.wallet_id)).balance_cents == 10_000
    await assert_books_ok(db)
