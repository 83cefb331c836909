"""The ledger primitives at their edges, called directly on a real ledger (both engines).

The use cases reach these only on their happy paths and through refusals decided elsewhere;
here each primitive is asked for what it must refuse: a debit the balance does not cover, a
credit to a month that is closed or to an account that keeps no balance, a transfer of nothing.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from payments.checkout.holds import ensure_hold_account
from payments.clock import utcnow
from payments.db import Database
from payments.ledger import transfers as ledger
from payments.ledger.periods import next_period
from payments.models import (
    EXPIRED,
    ORGANIZER_BUDGET,
    PROVIDER_PAYABLE,
    SETTLEMENT,
    Account,
    Transfer,
)
from payments.uow import UnitOfWork
from tests.factories import (
    envelope,
    organizer_account_id,
    provider_payable_id,
    seed_world,
)

MONTHLY = 30_000


async def test_a_debit_the_balance_does_not_cover_is_none_and_changes_nothing(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    async with UnitOfWork(db) as uow:
        assert await ledger.debit_stored(uow.session, env.id, MONTHLY + 1) is None
        assert await ledger.debit_envelope(uow.session, env.id, MONTHLY + 1) is None
        # An account that does not exist is refused the same way.
        assert await ledger.debit_stored(uow.session, 10**9, 1) is None
        assert await ledger.debit_envelope(uow.session, 10**9, 1) is None
        await uow.commit()
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY


async def test_a_debit_of_the_whole_balance_leaves_zero_and_names_the_month(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    async with UnitOfWork(db) as uow:
        assert await ledger.debit_envelope(uow.session, env.id, 1000) == (MONTHLY - 1000, w.period)
        assert await ledger.debit_stored(uow.session, env.id, MONTHLY - 1000) == 0
        assert await ledger.debit_stored(uow.session, env.id, 1) is None
        await uow.commit()
    assert (await envelope(db, w.wallet_id)).balance_cents == 0


async def test_credit_stored_returns_the_new_balance(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    async with UnitOfWork(db) as uow:
        assert await ledger.credit_stored(uow.session, env.id, 250) == MONTHLY + 250
        await uow.rollback()


async def test_credit_stored_refuses_an_account_that_keeps_no_balance(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    budget = await organizer_account_id(db, w.organizer_id, ORGANIZER_BUDGET)
    async with UnitOfWork(db) as uow:
        with pytest.raises(
            AssertionError, match=r"^only envelopes and holds keep a stored balance$"
        ):
            await ledger.credit_stored(uow.session, budget, 100)
        await uow.rollback()


async def test_credit_open_envelope_only_while_its_month_is_open(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    async with UnitOfWork(db) as uow:
        s = uow.session
        assert await ledger.credit_open_envelope(s, env.id, 100, w.period) == MONTHLY + 100
        # Not the month the envelope is funded for: closed.
        assert await ledger.credit_open_envelope(s, env.id, 100, next_period(w.period)) is None
        await uow.commit()
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY + 100


async def test_credit_open_envelope_refuses_an_expired_month(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    async with UnitOfWork(db) as uow:
        account = await uow.session.get(Account, env.id)
        assert account is not None
        account.expired_period = w.period
        await uow.session.flush()
        assert await ledger.credit_open_envelope(uow.session, env.id, 100, w.period) is None
        # Expired up to an earlier month only: this month is still open.
        account.expired_period = "2000-01"
        await uow.session.flush()
        assert await ledger.credit_open_envelope(uow.session, env.id, 100, w.period) == (
            MONTHLY + 100
        )
        await uow.rollback()


@pytest.mark.parametrize("amount", [0, -1])
async def test_a_transfer_of_no_money_is_refused_before_it_is_written(db: Database, amount: int):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    budget = await organizer_account_id(db, w.organizer_id, ORGANIZER_BUDGET)
    async with UnitOfWork(db) as uow:
        with pytest.raises(ValueError, match=r"^a transfer moves a positive amount$"):
            await ledger.post_transfer(
                uow.session,
                organizer_id=w.organizer_id,
                debit_account_id=budget,
                credit_account_id=env.id,
                amount_cents=amount,
                kind="funding",
                period=w.period,
                now=utcnow(),
            )
        await uow.rollback()


async def test_own_accounts_are_found_and_remembered_per_organizer_and_kind(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    other = await seed_world(db, monthly_cents=MONTHLY)
    ledger._OWN_ACCOUNTS.clear()
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        for world in (w, other):
            for kind in (ORGANIZER_BUDGET, EXPIRED, SETTLEMENT):
                expected = await organizer_account_id(db, world.organizer_id, kind)
                assert await ledger.organizer_account(s, world.organizer_id, kind) == expected
                # Asked again: the same id, now from memory.
                assert await ledger.organizer_account(s, world.organizer_id, kind) == expected
            payable = await provider_payable_id(db, world.provider_id)
            assert await ledger.provider_payable_account(s, world.provider_id) == payable
            assert await ledger.provider_payable_account(s, world.provider_id) == payable
    key = (ledger._db_key(s), w.organizer_id, ORGANIZER_BUDGET)
    assert ledger._OWN_ACCOUNTS[key] == await organizer_account_id(
        db, w.organizer_id, ORGANIZER_BUDGET
    )
    assert (ledger._db_key(s), w.provider_id, PROVIDER_PAYABLE) in ledger._OWN_ACCOUNTS
    assert db.url.split("://")[0].split("+")[0] in ledger._db_key(s)


def test_the_memory_of_own_accounts_is_bounded(monkeypatch: pytest.MonkeyPatch):
    memory: dict[tuple[str, uuid.UUID, str], int] = {}
    monkeypatch.setattr(ledger, "_OWN_ACCOUNTS", memory)
    monkeypatch.setattr(ledger, "_OWN_ACCOUNTS_MAX", 2)
    a, b, c = ((f"db{i}", uuid.uuid4(), "budget") for i in range(3))
    assert ledger._remember(a, 1) == 1
    assert ledger._remember(b, 2) == 2
    assert memory == {a: 1, b: 2}
    # Full: forget everything, then remember the new one.
    assert ledger._remember(c, 3) == 3
    assert memory == {c: 3}


async def test_a_hold_account_keeps_no_month_and_is_debited_like_an_envelope(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    async with UnitOfWork(db) as uow:
        hold_acc = await ensure_hold_account(uow.session, env.id)
        assert await ledger.credit_stored(uow.session, hold_acc, 500) == 500
        # A hold account has no funded month: its debit still returns the new balance.
        assert await ledger.debit_stored(uow.session, hold_acc, 200) == 300
        assert await ledger.debit_stored(uow.session, hold_acc, 301) is None
        assert await ledger.debit_stored(uow.session, hold_acc, 300) == 0
        await uow.rollback()


async def test_a_transfer_of_one_cent_is_written_with_all_it_was_given(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    budget = await organizer_account_id(db, w.organizer_id, ORGANIZER_BUDGET)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        await ledger.post_transfer(
            uow.session,
            organizer_id=w.organizer_id,
            debit_account_id=budget,
            credit_account_id=env.id,
            amount_cents=1,
            kind="funding",
            period="2000-01",
            now=now,
            dedupe_key="edge:one-cent",
        )
        await uow.commit()
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(select(Transfer).where(Transfer.period == "2000-01"))
        ).scalar_one()
    assert (row.amount_cents, row.kind, row.dedupe_key, row.charge_id) == (
        1,
        "funding",
        "edge:one-cent",
        None,
    )
    assert (row.debit_account_id, row.credit_account_id, row.organizer_id) == (
        budget,
        env.id,
        w.organizer_id,
    )
