"""Concurrent money movements, on SQLite and PostgreSQL.

On PostgreSQL the calls really overlap: each ``capture_charge`` runs in its own pooled
connection and the envelope row's conditional update is what decides. On SQLite writers queue on
the write lock; the same assertions hold.

The last two tests force, on PostgreSQL, the exact interleavings of a charge or a refund with a
monthly funding run at midnight, by holding a row lock from a separate connection that the
funding run needs half way through.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.charges import (
    ChargeLineInput,
)
from payments.db import Database
from payments.errors import InsufficientFunds, RefundTooLarge
from payments.reporting.wallet_views import wallet_view
from payments.results import Happened, Outcome
from payments.vocabulary import AccountKind
from tests.factories import (
    account_balance,
    assert_books_ok,
    at,
    charge_row,
    envelope,
    envelopes,
    organizer_account_id,
    provider_payable_id,
    row_counts,
    seed_world,
    transfers,
)
from tests.support.money import charge, refund


def split(results: list[Any]) -> tuple[list[Outcome], list[BaseException]]:
    ok = [r for r in results if isinstance(r, Outcome)]
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) + len(errors) == len(results)
    return ok, errors


ONE_CLEANING = [ChargeLineInput("siivous", Decimal(1), 1500)]


@pytest.mark.parametrize(("monthly", "captured", "left"), [(7 * 1500, 7, 0), (10_000, 6, 1000)])
async def test_concurrent_charges_capture_exactly_what_the_envelope_covers(
    db, monthly, captured, left
):
    w = await seed_world(db, monthly_cents=monthly)
    before = await row_counts(db)

    results = await asyncio.gather(
        *(charge(db, w, ONE_CLEANING, key=f"k{i}") for i in range(50)), return_exceptions=True
    )

    ok, errors = split(results)
    assert len(ok) == captured and all(o.what is Happened.CREATED and not o.replayed for o in ok)
    assert len(errors) == 50 - captured
    assert all(isinstance(e, InsufficientFunds) for e in errors), {type(e) for e in errors}
    assert len({o.body["id"] for o in ok}) == captured
    assert (await envelope(db, w.wallet_id)).balance_cents == left
    after = await row_counts(db)
    assert after["transfers"] - before["transfers"] == captured
    assert after["charges"] - before["charges"] == captured
    assert after["idempotency_keys"] - before["idempotency_keys"] == captured
    assert after["outbox"] - before["outbox"] == captured
    assert await account_balance(db, await provider_payable_id(db, w.provider_id)) == (
        captured * 1500
    )
    view = await wallet_view(db, w.wallet_id)
    assert view["envelopes"][0]["balance_cents"] == left
    await assert_books_ok(db)


async def test_concurrent_duplicates_of_one_key_make_one_charge(db):
    w = await seed_world(db)
    results = await asyncio.gather(
        *(charge(db, w, ONE_CLEANING, key="one-key") for _ in range(20)), return_exceptions=True
    )
    ok, errors = split(results)
    assert errors == []
    assert len(ok) == 20
    assert Counter(o.replayed for o in ok) == {True: 19, False: 1}
    assert all(o.what is Happened.CREATED for o in ok)
    assert all(o.body == ok[0].body for o in ok)
    assert len(await transfers(db, kind="charge")) == 1
    counts = await row_counts(db)
    assert (counts["charges"], counts["charge_lines"], counts["idempotency_keys"]) == (1, 1, 1)
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 1500
    await assert_books_ok(db)


async def test_concurrent_duplicates_and_distinct_keys_mixed(db):
    """Five keys, each sent eight times at once, against money for three of them."""
    w = await seed_world(db, monthly_cents=3 * 1500)
    calls = [charge(db, w, ONE_CLEANING, key=f"k{i % 5}") for i in range(40)]
    random.Random(7).shuffle(calls)
    results = await asyncio.gather(*calls, return_exceptions=True)
    ok, errors = split(results)
    assert all(isinstance(e, InsufficientFunds) for e in errors)
    assert len({o.body["id"] for o in ok}) == 3
    assert len(await transfers(db, kind="charge")) == 3
    assert (await envelope(db, w.wallet_id)).balance_cents == 0
    await assert_books_ok(db)


async def test_concurrent_charges_over_two_envelopes_do_not_deadlock(db):
    """Lines in either order debit the two envelopes in one fixed order."""
    w = await seed_world(
        db,
        lines=[
            DecisionLineInput("Kotiapu", 30 * 1000, ("kotiapu",)),
            DecisionLineInput("Siivous", 30 * 500, ("siivous",)),
        ],
    )
    a = ChargeLineInput("kotiapu", Decimal(1), 1000)
    b = ChargeLineInput("siivous", Decimal(1), 500)
    results = await asyncio.gather(
        *(charge(db, w, [a, b] if i % 2 else [b, a], key=f"k{i}") for i in range(40)),
        return_exceptions=True,
    )
    ok, errors = split(results)
    assert len(ok) == 30
    assert all(isinstance(e, InsufficientFunds) for e in errors), errors
    assert [e.balance_cents for e in await envelopes(db, w.wallet_id)] == [0, 0]
    await assert_books_ok(db)


async def test_concurrent_refunds_never_exceed_the_charge(db):
    w = await seed_world(db)
    cid = (await charge(db, w, [ChargeLineInput("siivous", Decimal(2), 3500)], key="c")).body["id"]
    amounts: list[int | None] = [1000] * 8 + [2500] * 3 + [None] * 2
    random.Random(3).shuffle(amounts)
    results = await asyncio.gather(
        *(refund(db, w, cid, amount, key=f"r{i}") for i, amount in enumerate(amounts)),
        return_exceptions=True,
    )
    ok, errors = split(results)
    assert all(isinstance(e, RefundTooLarge) for e in errors), errors
    refunded = sum(o.body["amount_cents"] for o in ok)
    assert refunded <= 7000
    status, total, stored_refunded = await charge_row(db, uuid.UUID(cid))
    assert stored_refunded == refunded and total == 7000
    assert sum(t.amount_cents for t in await transfers(db, kind="refund")) == refunded
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 7000 + refunded
    # The refunds that were accepted each saw a consistent running total.
    assert sorted(o.body["charge_refunded_cents"] for o in ok) == sorted(
        {o.body["charge_refunded_cents"] for o in ok}
    )
    assert max(o.body["charge_refunded_cents"] for o in ok) == refunded
    if refunded == 7000:
        assert status == "refunded"
    await assert_books_ok(db)


async def test_concurrent_equal_refunds_fill_the_charge_exactly(db):
    w = await seed_world(db)
    cid = (await charge(db, w, [ChargeLineInput("siivous", Decimal(2), 3500)], key="c")).body["id"]
    results = await asyncio.gather(
        *(refund(db, w, cid, 1000, key=f"r{i}") for i in range(12)), return_exceptions=True
    )
    ok, errors = split(results)
    assert len(ok) == 7 and len(errors) == 5
    assert all(isinstance(e, RefundTooLarge) for e in errors)
    assert await charge_row(db, uuid.UUID(cid)) == ("refunded", 7000, 7000)
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000
    await assert_books_ok(db)


async def test_concurrent_charges_and_refunds_keep_the_books(db):
    w = await seed_world(db, monthly_cents=20_000)
    first = [
        (await charge(db, w, ONE_CLEANING, key=f"pre{i}")).body["id"] for i in range(4)
    ]  # 6000 spent
    calls: list[Any] = [charge(db, w, ONE_CLEANING, key=f"k{i}") for i in range(20)]
    calls += [refund(db, w, cid, 1500, key=f"r{cid}") for cid in first]
    random.Random(11).shuffle(calls)
    results = await asyncio.gather(*calls, return_exceptions=True)
    ok, errors = split(results)
    assert all(isinstance(e, InsufficientFunds) for e in errors), errors
    charged = 4 + sum(1 for o in ok if "total_cents" in o.body)
    refunded = sum(1 for o in ok if "charge_refunded_cents" in o.body)
    assert refunded == 4
    assert (await envelope(db, w.wallet_id)).balance_cents == 20_000 - 1500 * (charged - refunded)
    await assert_books_ok(db)


# --- forced interleavings with the funding run (PostgreSQL) ----------------------------------


def _pg_dsn(db: Database) -> str:
    return db.url.replace("postgresql+asyncpg://", "postgresql://")


@contextlib.asynccontextmanager
async def row_locked(db: Database, account_id: int) -> AsyncIterator[asyncpg.Connection]:
    """Hold ``FOR UPDATE`` on one account row from a connection of its own until exit."""
    conn = await asyncpg.connect(_pg_dsn(db))
    try:
        tx = conn.transaction()
        await tx.start()
        await conn.execute("SELECT id FROM accounts WHERE id = $1 FOR UPDATE", account_id)
        try:
            yield conn
        finally:
            await tx.rollback()
    finally:
        await conn.close()


async def wait_for_lock_waiters(db: Database, n: int) -> None:
    """Until ``n`` of the app's connections wait on a lock (the tasks reached their block)."""
    conn = await asyncpg.connect(_pg_dsn(db))
    try:
        for _ in range(500):
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'wallet' AND wait_event_type = 'Lock'"
            )
            if waiting >= n:
                return
            await asyncio.sleep(0.02)
        rows = await conn.fetch(
            "SELECT state, wait_event_type, query FROM pg_stat_activity "
            "WHERE datname = current_database()"
        )
        raise AssertionError(f"expected {n} connections waiting on a lock: {rows}")
    finally:
        await conn.close()


async def test_refund_racing_the_expiry_of_its_month(db):
    """The refund reads 'funded for January' while February's run is expiring January. It must
    end up with the organizer, not in the envelope after January closed."""
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=10_000)
    await fund_period(db, "2031-01")
    cid = (
        await charge(
            db, w, [ChargeLineInput("siivous", Decimal(2), 3500)], key="c", now=at("2031-01")
        )
    ).body["id"]
    if db.is_postgres:
        expired = await organizer_account_id(db, w.organizer_id, AccountKind.EXPIRED)
        async with row_locked(db, expired):
            # The expiry step locks the envelope, then waits for the expired account.
            funding = asyncio.create_task(fund_period(db, "2031-02"))
            await wait_for_lock_waiters(db, 1)
            refunding = asyncio.create_task(refund(db, w, cid, 3000, key="r", now=at("2031-02", 1)))
            await wait_for_lock_waiters(db, 2)
        await funding
        out = await refunding
    else:
        await fund_period(db, "2031-02")
        out = await refund(db, w, cid, 3000, key="r", now=at("2031-02", 1))
    assert out.body["returned_to"] == "organizer"
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period) == (10_000, "2031-02")
    await assert_books_ok(db)


async def test_charge_racing_the_funding_of_the_next_month(db):
    """January is closed (200.00 kept under the carry-over cap), February's funding is under
    way and holds the envelope when a charge that the carried money covers arrives: the charge
    waits for the funding, then spends; nothing is lost or counted twice."""
    w = await seed_world(
        db,
        fund=False,
        period="2031-01",
        monthly_cents=10_000,
        carry_over="capped",
        carry_cap_cents=2000,
    )
    await fund_period(db, "2031-01")
    await charge(
        db, w, [ChargeLineInput("siivous", Decimal(2), 3500)], key="jan", now=at("2031-01")
    )
    await fund_period(db, "2031-02", stop_after="expiry")  # January closed, February not funded
    assert (await envelope(db, w.wallet_id)).balance_cents == 2000
    feb = [ChargeLineInput("siivous", Decimal(1), 1500)]
    if db.is_postgres:
        budget = await organizer_account_id(db, w.organizer_id, AccountKind.ORGANIZER_BUDGET)
        async with row_locked(db, budget):
            # The funding step locks the envelope, then waits for the budget account.
            funding = asyncio.create_task(fund_period(db, "2031-02"))
            await wait_for_lock_waiters(db, 1)
            charging = asyncio.create_task(charge(db, w, feb, key="feb", now=at("2031-02", 1, 0)))
            await wait_for_lock_waiters(db, 2)
        await funding
        out = await charging
    else:
        await fund_period(db, "2031-02")
        out = await charge(db, w, feb, key="feb", now=at("2031-02", 1, 0))
    assert out.what is Happened.CREATED
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period) == (2000 + 10_000 - 1500, "2031-02")
    assert len(await transfers(db, kind="funding")) == 2
    await assert_books_ok(db)
