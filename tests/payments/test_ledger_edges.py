"""The ledger's one movement call, :func:`payments.ledger.transfers.move`, at its edges, on a
real ledger (both engines).

The use cases reach ``move`` on their happy paths and through refusals decided elsewhere; here
it is asked for what it must refuse or redirect: a debit its source does not cover, money given
back to a month that is closed, a movement of nothing, an account that keeps no balance. And
what it writes: one transfer row per leg, in one INSERT, with everything it was given.

(Before ``move``, these were tests of ``debit_stored``, ``debit_envelope``, ``credit_stored``,
``credit_open_envelope`` and ``post_transfer``; each intent is kept here against ``move``.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState

from payments.checkout.holds import ensure_hold_account
from payments.clock import utcnow
from payments.db import Database
from payments.errors import InsufficientFunds
from payments.ledger import transfers as ledger
from payments.ledger.periods import next_period
from payments.ledger.transfers import Envelope, HoldAccount, Leg, Moved, NotCovered, move
from payments.models import Account, Transfer
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, TransferKind
from tests.factories import (
    World,
    count,
    envelope,
    organizer_account_id,
    provider_payable_id,
    seed_world,
    transfers,
)
from tests.support.money import charged

MONTHLY = 30_000


async def _balance(s: AsyncSession, account_id: int) -> int | None:
    return (
        await s.execute(select(Account.balance_cents).where(Account.id == account_id))
    ).scalar_one()


async def _payable(db: Database, w: World) -> int:
    return await provider_payable_id(db, w.provider_id)


@contextmanager
def _statements(s: AsyncSession) -> Iterator[list[tuple[str, Any]]]:
    """What the session executes meanwhile: (the statement's verb and table, its parameters)."""
    seen: list[tuple[str, Any]] = []

    def record(state: ORMExecuteState) -> None:
        text = str(state.statement).split()
        verb = text[0]
        table = text[text.index("INTO") + 1] if verb == "INSERT" else text[1]
        seen.append((f"{verb} {table}", state.parameters))

    event.listen(s.sync_session, "do_orm_execute", record)
    try:
        yield seen
    finally:
        event.remove(s.sync_session, "do_orm_execute", record)


# --- a debit out of an envelope ------------------------------------------------------------


async def test_a_debit_the_balance_does_not_cover_is_refused_and_writes_nothing(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    payable = await _payable(db, w)
    before = await count(db, Transfer)
    async with UnitOfWork(db) as uow:
        s = uow.session
        for source in (Envelope(env.id), Envelope(10**9)):  # short, and no such account
            with _statements(s) as seen, pytest.raises(InsufficientFunds):
                await move(
                    s,
                    source,
                    Leg(payable, MONTHLY + 1 if source.id == env.id else 1, TransferKind.CHARGE),
                    organizer_id=w.organizer_id,
                    period=None,
                    now=utcnow(),
                )
            # Refused at its one conditional UPDATE: no transfer was even tried.
            assert [verb for verb, _ in seen] == ["UPDATE accounts"]
        # Two legs that each fit but together do not: the source is debited by their sum.
        with pytest.raises(InsufficientFunds):
            await move(
                s,
                Envelope(env.id),
                Leg(payable, MONTHLY, TransferKind.CHARGE),
                Leg(payable, 1, TransferKind.CHARGE),
                organizer_id=w.organizer_id,
                period=None,
                now=utcnow(),
            )
        await uow.commit()
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY
    assert await count(db, Transfer) == before


async def test_a_debit_of_the_whole_balance_leaves_zero_and_names_the_month(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    payable = await _payable(db, w)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        first = await move(
            s,
            Envelope(env.id),
            Leg(payable, 1000, TransferKind.CHARGE),
            organizer_id=w.organizer_id,
            period=None,
            now=now,
        )
        assert first == Moved(w.period, MONTHLY - 1000, False)
        # Two legs: one debit of their sum, two transfers.
        rest = await move(
            s,
            Envelope(env.id),
            Leg(payable, MONTHLY - 1500, TransferKind.CHARGE),
            Leg(payable, 500, TransferKind.CHARGE),
            organizer_id=w.organizer_id,
            period=None,
            now=now,
        )
        assert rest == Moved(w.period, 0, False)
        with pytest.raises(InsufficientFunds, match=r"^There is not enough money left"):
            await move(
                s,
                Envelope(env.id),
                Leg(payable, 1, TransferKind.CHARGE),
                organizer_id=w.organizer_id,
                period=None,
                now=now,
            )
        await uow.commit()
    assert (await envelope(db, w.wallet_id)).balance_cents == 0
    charges = await transfers(db, kind=TransferKind.CHARGE)
    assert [(t.debit_account_id, t.credit_account_id, t.amount_cents) for t in charges] == [
        (env.id, payable, 1000),
        (env.id, payable, MONTHLY - 1500),
        (env.id, payable, 500),
    ]
    assert {t.period for t in charges} == {w.period}


async def test_an_envelope_with_money_but_no_funded_month_is_not_debited(db: Database):
    """The debit reads the month the money belongs to from the envelope; an envelope that
    names no funded month (funding writes both together, so only damage can make one) is
    refused like one without the money, rather than booking a month of "None"."""
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    payable = await _payable(db, w)
    async with db.engine.begin() as conn:
        await conn.execute(update(Account).where(Account.id == env.id).values(funded_period=None))
    before = await count(db, Transfer)
    async with UnitOfWork(db) as uow:
        with pytest.raises(InsufficientFunds):
            await move(
                uow.session,
                Envelope(env.id),
                Leg(payable, 1000, TransferKind.CHARGE),
                organizer_id=w.organizer_id,
                period=None,
                now=utcnow(),
            )
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY
    assert await count(db, Transfer) == before


# --- money given back to an envelope ---------------------------------------------------------


async def test_a_refund_credits_the_envelope_only_while_its_month_is_open(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    payable = await _payable(db, w)
    budget = await organizer_account_id(db, w.organizer_id, AccountKind.ORGANIZER_BUDGET)
    async with UnitOfWork(db) as uow:
        s = uow.session
        opened = await move(
            s,
            payable,
            Leg(Envelope(env.id), 100, TransferKind.REFUND),
            organizer_id=w.organizer_id,
            period=w.period,
            now=utcnow(),
        )
        # A derived source keeps no balance to report.
        assert opened == Moved(w.period, None, False)
        assert await _balance(s, env.id) == MONTHLY + 100
        # Not the month the envelope is funded for: closed, so the organizer gets it.
        closed = await move(
            s,
            payable,
            Leg(Envelope(env.id), 40, TransferKind.REFUND),
            organizer_id=w.organizer_id,
            period=next_period(w.period),
            now=utcnow(),
        )
        assert closed == Moved(next_period(w.period), None, True)
        assert await _balance(s, env.id) == MONTHLY + 100
        await uow.commit()
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY + 100
    moved = [
        (t.debit_account_id, t.credit_account_id, t.amount_cents, t.kind, t.period)
        for t in await transfers(db)
        if t.debit_account_id == payable
    ]
    assert moved == [
        (payable, env.id, 100, TransferKind.REFUND, w.period),
        (payable, budget, 40, TransferKind.REFUND_CLOSED, next_period(w.period)),
    ]


async def test_an_expired_month_is_closed_and_an_earlier_expiry_is_not(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    payable = await _payable(db, w)
    async with UnitOfWork(db) as uow:
        s = uow.session
        account = await s.get(Account, env.id)
        assert account is not None
        account.expired_period = w.period
        await s.flush()
        gone = await move(
            s,
            payable,
            Leg(Envelope(env.id), 100, TransferKind.REFUND),
            organizer_id=w.organizer_id,
            period=w.period,
            now=utcnow(),
        )
        assert gone.to_closed_month and await _balance(s, env.id) == MONTHLY
        # Expired up to an earlier month only: this month is still open.
        account.expired_period = "2000-01"
        await s.flush()
        back = await move(
            s,
            payable,
            Leg(Envelope(env.id), 100, TransferKind.REFUND),
            organizer_id=w.organizer_id,
            period=w.period,
            now=utcnow(),
        )
        assert not back.to_closed_month and await _balance(s, env.id) == MONTHLY + 100
        await uow.rollback()


async def test_a_hold_released_into_a_closed_month_goes_to_the_expired_account(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    expired = await organizer_account_id(db, w.organizer_id, AccountKind.EXPIRED)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        hold_acc = await ensure_hold_account(s, env.id)
        await move(
            s,
            Envelope(env.id),
            Leg(HoldAccount(hold_acc), 700, TransferKind.HOLD),
            organizer_id=w.organizer_id,
            period=None,
            now=now,
        )
        released = await move(
            s,
            HoldAccount(hold_acc),
            Leg(Envelope(env.id), 300, TransferKind.HOLD_RELEASE),
            organizer_id=w.organizer_id,
            period=w.period,
            now=now,
        )
        assert released == Moved(w.period, 400, False)
        late = await move(
            s,
            HoldAccount(hold_acc),
            Leg(Envelope(env.id), 400, TransferKind.HOLD_RELEASE),
            organizer_id=w.organizer_id,
            period=next_period(w.period),
            now=now,
        )
        assert late == Moved(next_period(w.period), 0, True)
        assert await _balance(s, env.id) == MONTHLY - 700 + 300
        await uow.commit()
    out_of_hold = [
        (t.credit_account_id, t.amount_cents, t.kind)
        for t in await transfers(db)
        if t.debit_account_id == hold_acc
    ]
    assert out_of_hold == [
        (env.id, 300, TransferKind.HOLD_RELEASE),
        (expired, 400, TransferKind.HOLD_EXPIRED),
    ]


# --- what a movement refuses before it writes ------------------------------------------------


@pytest.mark.parametrize("amounts", [(0,), (-1,), (100, 0), ()])
async def test_a_movement_of_no_money_is_refused_before_it_is_written(
    db: Database, amounts: tuple[int, ...]
):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    payable = await _payable(db, w)
    before = await count(db, Transfer)
    async with UnitOfWork(db) as uow:
        with _statements(uow.session) as seen:
            with pytest.raises(ValueError, match=r"^a movement moves positive amounts$"):
                await move(
                    uow.session,
                    Envelope(env.id),
                    *(Leg(payable, a, TransferKind.CHARGE) for a in amounts),
                    organizer_id=w.organizer_id,
                    period=None,
                    now=utcnow(),
                )
        assert seen == []
        await uow.commit()
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY
    assert await count(db, Transfer) == before


async def test_only_a_movement_out_of_an_envelope_may_leave_its_month_to_be_read(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    payable = await _payable(db, w)
    async with UnitOfWork(db) as uow:
        s = uow.session
        hold_acc = await ensure_hold_account(s, env.id)
        for source in (payable, HoldAccount(hold_acc)):
            with _statements(s) as seen:
                with pytest.raises(
                    ValueError, match=r"^only a movement out of an envelope reads its month$"
                ):
                    await move(
                        s,
                        source,
                        Leg(Envelope(env.id), 1, TransferKind.REFUND),
                        organizer_id=w.organizer_id,
                        period=None,
                        now=utcnow(),
                    )
            assert seen == []
        await uow.rollback()


# --- hold accounts -------------------------------------------------------------------------


async def test_a_hold_account_keeps_no_month_and_is_debited_like_an_envelope(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    payable = await _payable(db, w)
    now = utcnow()

    async def out_of_hold(hold_acc: int, cents: int) -> Moved:
        return await move(
            uow.session,
            HoldAccount(hold_acc),
            Leg(payable, cents, TransferKind.CHARGE),
            organizer_id=w.organizer_id,
            period=w.period,
            now=now,
        )

    async with UnitOfWork(db) as uow:
        s = uow.session
        hold_acc = await ensure_hold_account(s, env.id)
        into = await move(
            s,
            Envelope(env.id),
            Leg(HoldAccount(hold_acc), 500, TransferKind.HOLD),
            organizer_id=w.organizer_id,
            period=None,
            now=now,
        )
        # The source's balance is the envelope's; the hold account is credited as asked.
        assert into == Moved(w.period, MONTHLY - 500, False)
        assert await _balance(s, hold_acc) == 500
        # A hold account has no funded month: its debit still returns the new balance.
        assert (await out_of_hold(hold_acc, 200)).balance == 300
        transfers_before = (await s.execute(select(Transfer.id))).all()
        with pytest.raises(
            NotCovered, match=rf"^hold account {hold_acc} does not cover 301 cents$"
        ):
            await out_of_hold(hold_acc, 301)
        assert (await s.execute(select(Transfer.id))).all() == transfers_before
        assert (await out_of_hold(hold_acc, 300)).balance == 0
        assert await _balance(s, hold_acc) == 0
        await uow.rollback()


async def test_an_account_that_keeps_no_balance_is_never_treated_as_a_stored_one(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    budget = await organizer_account_id(db, w.organizer_id, AccountKind.ORGANIZER_BUDGET)
    async with UnitOfWork(db) as uow:
        s = uow.session
        # As a source: a NULL balance covers nothing.
        with pytest.raises(NotCovered):
            await move(
                s,
                HoldAccount(budget),
                Leg(Envelope(env.id), 1, TransferKind.HOLD_RELEASE),
                organizer_id=w.organizer_id,
                period=w.period,
                now=utcnow(),
            )
        # As a target: crediting it would leave no balance to report, which is a bug.
        with pytest.raises(AssertionError, match=r"^a hold account keeps a stored balance$"):
            await move(
                s,
                Envelope(env.id),
                Leg(HoldAccount(budget), 100, TransferKind.HOLD),
                organizer_id=w.organizer_id,
                period=None,
                now=utcnow(),
            )
        assert await _balance(s, budget) is None
        await uow.rollback()


# --- what is written -------------------------------------------------------------------------


async def test_one_statement_per_stored_balance_and_one_insert_per_movement(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    env = await envelope(db, w.wallet_id)
    payable = await _payable(db, w)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        hold_acc = await ensure_hold_account(s, env.id)
        with _statements(s) as charge:
            await move(
                s,
                Envelope(env.id),
                Leg(payable, 100, TransferKind.CHARGE),
                Leg(payable, 200, TransferKind.CHARGE),
                Leg(payable, 300, TransferKind.CHARGE),
                organizer_id=w.organizer_id,
                period=None,
                now=now,
            )
        assert [verb for verb, _ in charge] == ["UPDATE accounts", "INSERT transfers"]
        assert charge[0][1] == {"p_id": env.id, "p_amount": 600}
        assert [row["amount_cents"] for row in charge[1][1]] == [100, 200, 300]
        # Envelopes first, then hold accounts (the lock order of every money path) ...
        with _statements(s) as hold:
            await move(
                s,
                Envelope(env.id),
                Leg(HoldAccount(hold_acc), 1000, TransferKind.HOLD),
                organizer_id=w.organizer_id,
                period=None,
                now=now,
            )
        assert [(verb, params.get("p_id")) for verb, params in hold] == [
            ("UPDATE accounts", env.id),
            ("UPDATE accounts", hold_acc),
            ("INSERT transfers", None),
        ]
        # ... also when the hold account is the source and the envelope the target.
        with _statements(s) as release:
            await move(
                s,
                HoldAccount(hold_acc),
                Leg(Envelope(env.id), 400, TransferKind.HOLD_RELEASE),
                organizer_id=w.organizer_id,
                period=w.period,
                now=now,
            )
        assert [(verb, params.get("p_id")) for verb, params in release] == [
            ("UPDATE accounts", env.id),
            ("UPDATE accounts", hold_acc),
            ("INSERT transfers", None),
        ]
        assert await _balance(s, hold_acc) == 600
        assert await _balance(s, env.id) == MONTHLY - 600 - 1000 + 400
        await uow.rollback()


async def test_a_movement_of_one_cent_is_written_with_all_it_was_given(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    charge_id = await charged(db, w)  # a real charge for the transfer to name
    env = await envelope(db, w.wallet_id)
    payable = await _payable(db, w)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        await move(
            uow.session,
            Envelope(env.id),
            Leg(payable, 1, TransferKind.CHARGE, charge_id=charge_id, dedupe_key="edge:one-cent"),
            organizer_id=w.organizer_id,
            period=None,
            now=now,
        )
        await uow.commit()
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(Transfer).where(Transfer.dedupe_key == "edge:one-cent")
            )
        ).scalar_one()
    assert (row.amount_cents, row.kind, row.dedupe_key, row.charge_id, row.period) == (
        1,
        TransferKind.CHARGE,
        "edge:one-cent",
        charge_id,
        w.period,
    )
    assert (row.debit_account_id, row.credit_account_id, row.organizer_id) == (
        env.id,
        payable,
        w.organizer_id,
    )
    assert isinstance(row.created_at, datetime) and row.created_at == now


# --- the organizer's and provider's own accounts ---------------------------------------------


async def test_own_accounts_are_found_and_remembered_per_organizer_and_kind(db: Database):
    w = await seed_world(db, monthly_cents=MONTHLY)
    other = await seed_world(db, monthly_cents=MONTHLY)
    ledger._OWN_ACCOUNTS.clear()
    kinds = (AccountKind.ORGANIZER_BUDGET, AccountKind.EXPIRED, AccountKind.SETTLEMENT)
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        for world in (w, other):
            for kind in kinds:
                expected = await organizer_account_id(db, world.organizer_id, kind)
                assert await ledger.organizer_account(s, world.organizer_id, kind) == expected
                # Asked again: the same id, now from memory.
                assert await ledger.organizer_account(s, world.organizer_id, kind) == expected
            payable = await provider_payable_id(db, world.provider_id)
            assert await ledger.provider_payable_account(s, world.provider_id) == payable
            assert await ledger.provider_payable_account(s, world.provider_id) == payable
    key = (ledger._db_key(s), w.organizer_id, AccountKind.ORGANIZER_BUDGET)
    assert ledger._OWN_ACCOUNTS[key] == await organizer_account_id(
        db, w.organizer_id, AccountKind.ORGANIZER_BUDGET
    )
    assert (ledger._db_key(s), w.provider_id, AccountKind.PROVIDER_PAYABLE) in ledger._OWN_ACCOUNTS
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
