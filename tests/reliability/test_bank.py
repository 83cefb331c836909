"""The bank test (after Jepsen's): workers charge, refund, hold/capture/void, retry and fund at
the same time for T seconds while readers take snapshots, on SQLite and PostgreSQL.

Every snapshot (one REPEATABLE READ transaction on PostgreSQL, one read transaction on SQLite)
and the end state must satisfy:

* each transfer balances (one positive amount between two distinct accounts), and all
  accounts together sum to zero (money is conserved);
* every stored balance (envelopes, holds) equals its transfers, and none is negative;
* every charge's transfers equal its total and its refunds its refunded amount;
* each idempotency key maps to exactly one charge (no committed key is half-written) and every
  charge is the result of exactly one key.

Operations go through the real use cases; nothing on a money path is mocked. Short version: a
few seconds per engine; ``WALLET_LONG=1``: a minute per engine and more workers.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from payments.books import check_books
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.charges import ChargeLineInput, Customer
from payments.checkout.visits import capture_hold, create_visit_hold, void_hold
from payments.db import READONLY, Database
from payments.errors import HoldNotOpen, InsufficientFunds, RefundTooLarge
from payments.ledger.periods import first_day
from payments.models import STORED_BALANCE_KINDS, Account, Charge, Hold, IdempotencyRecord, Transfer
from payments.results import Happened
from payments.vocabulary import AccountKind
from tests.factories import World, add_client_with_decision, seed_world
from tests.reliability.bounds import LONG_TIMEOUT, pick
from tests.support.money import by_phone, charge, cleaning, refund

DURATION_S = pick(4, 60)
WORKERS = int(pick(6, 12))
READERS = 2
PHONES = ["+358401234567", "+358401110001", "+358401110002"]
# Refusals that are a correct answer under contention; anything else fails the test.
EXPECTED_REFUSALS = (InsufficientFunds, RefundTooLarge, HoldNotOpen)


@dataclass
class Tally:
    """What the clients were told, to compare with what the ledger says."""

    charges: dict[str, str] = field(default_factory=dict)  # idempotency key -> charge id
    requests: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (phone, price)
    ops: Counter[str] = field(default_factory=Counter)
    snapshots: int = 0
    new_clients: int = 0


async def _charge(db: Database, w: World, phone: str, price: int, key: str) -> str:
    out = await charge(db, w, cleaning(1, price), customer=by_phone(phone), key=key)
    assert out.what is Happened.CREATED
    return str(out.body["id"])


async def _worker(db: Database, w: World, seed: int, deadline: float, tally: Tally) -> None:
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        op = rng.choice(["charge", "charge", "charge", "retry", "refund", "hold", "fund", "new"])
        if (op in ("retry", "refund") and not tally.charges) or (
            op == "new" and tally.new_clients >= 6
        ):
            continue
        try:
            if op == "charge":
                key, phone, price = f"c-{uuid.uuid4()}", rng.choice(PHONES), rng.randint(1, 3500)
                tally.requests[key] = (phone, price)
                tally.charges[key] = await _charge(db, w, phone, price, key)
            elif op == "retry":
                # A client that did not hear the answer sends the same request again.
                key = rng.choice(list(tally.charges))
                phone, price = tally.requests[key]
                assert await _charge(db, w, phone, price, key) == tally.charges[key], key
            elif op == "refund":
                charge_id = rng.choice(list(tally.charges.values()))
                amount = rng.choice([None, rng.randint(1, 2000)])
                await refund(db, w, charge_id, amount, key=f"r-{uuid.uuid4()}", reason=None)
            elif op == "hold":
                await _hold_round(db, w, rng)
            elif op == "fund":
                await fund_period(db, w.period, batch_size=rng.choice([1, 2, 5000]))
            elif op == "new":
                # A new decision mid-month gives the concurrent funding runs real work.
                tally.new_clients += 1
                await add_client_with_decision(
                    db,
                    w,
                    phone=f"+3584022{uuid.uuid4().int % 100_000:05d}",
                    lines=[DecisionLineInput("Siivous", 20_000, ("siivous",))],
                    valid_from=first_day(w.period),
                )
            tally.ops[op] += 1
        except EXPECTED_REFUSALS as exc:
            tally.ops[f"{op}:{type(exc).__name__}"] += 1
        await asyncio.sleep(0)


async def _hold_round(db: Database, w: World, rng: random.Random) -> None:
    phone, price = rng.choice(PHONES), rng.randint(100, 3500)
    held = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=phone),
        lines=[ChargeLineInput("siivous", Decimal(1), price)],
        idempotency_key=f"h-{uuid.uuid4()}",
        request_hash=f"{phone}:{price}",
        ttl=timedelta(minutes=rng.choice([1, 30])),
        trusted_only=True,
    )
    hold_id = uuid.UUID(held.body["id"])
    await asyncio.sleep(rng.random() / 50)
    # Two closers race for the same hold: exactly one may move money.
    taken = rng.randint(1, price)
    results = await asyncio.gather(
        capture_hold(
            db,
            provider_id=w.provider_id,
            hold_id=hold_id,
            lines=[ChargeLineInput("siivous", Decimal(1), taken)],
            idempotency_key=f"hc-{uuid.uuid4()}",
            request_hash=f"{hold_id}:{taken}",
        ),
        void_hold(db, provider_id=w.provider_id, hold_id=hold_id),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(e, HoldNotOpen) for e in losers), losers


async def snapshot_violations(db: Database) -> list[str]:
    """Read the whole ledger in one snapshot and list every broken invariant."""
    bind = db.engine.execution_options(
        **(
            {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
            if db.is_postgres
            else {READONLY: True}
        )
    )
    async with bind.connect() as conn:
        await conn.begin()
        transfers = (
            await conn.execute(
                select(
                    Transfer.debit_account_id,
                    Transfer.credit_account_id,
                    Transfer.amount_cents,
                    Transfer.kind,
                    Transfer.charge_id,
                )
            )
        ).all()
        accounts = (
            await conn.execute(select(Account.id, Account.kind, Account.balance_cents))
        ).all()
        charges = (
            await conn.execute(select(Charge.id, Charge.total_cents, Charge.refunded_cents))
        ).all()
        keys = (
            await conn.execute(
                select(
                    IdempotencyRecord.scope,
                    IdempotencyRecord.key,
                    IdempotencyRecord.status_code,
                    IdempotencyRecord.response,
                )
            )
        ).all()
        captured_holds = (
            await conn.execute(select(Hold.charge_id).where(Hold.status == "captured"))
        ).all()
        await conn.rollback()

    bad: list[str] = []
    derived: dict[int, int] = defaultdict(int)
    per_charge: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for debit, credit, amount, kind, charge_id in transfers:
        if amount <= 0 or debit == credit:
            bad.append(f"transfer {debit}->{credit} of {amount} does not balance")
        derived[int(debit)] -= int(amount)
        derived[int(credit)] += int(amount)
        if charge_id is not None:
            if kind == "charge":
                per_charge[charge_id][0] += int(amount)
            elif kind in ("refund", "refund_closed"):
                per_charge[charge_id][1] += int(amount)
    if sum(derived.values()) != 0:
        bad.append(f"accounts sum to {sum(derived.values())}, not 0")
    for acc_id, kind, stored in accounts:
        if kind in STORED_BALANCE_KINDS:
            if stored != derived.get(int(acc_id), 0):
                bad.append(f"{kind} {acc_id}: stored {stored} != transfers {derived[acc_id]}")
            if stored < 0:
                bad.append(f"{kind} {acc_id} is negative: {stored}")
    charge_ids = set()
    for cid, total, refunded in charges:
        charge_ids.add(cid)
        if per_charge[cid] != [int(total), int(refunded)] or refunded > total:
            bad.append(f"charge {cid}: {total}/{refunded} vs transfers {per_charge[cid]}")
    # Each committed key holds a finished result; each charge is the result of one key.
    made_by: Counter[str] = Counter()
    for scope, key, status, response in keys:
        if status == 0:
            bad.append(f"key {scope}/{key} is visible half-written")
        elif scope.startswith("charge:"):
            made_by[str(response["id"])] += 1
    made_by.update(str(cid) for (cid,) in captured_holds)
    for cid in charge_ids:
        if made_by[str(cid)] != 1:
            bad.append(f"charge {cid} is the result of {made_by[str(cid)]} keys/holds")
    for cid in set(made_by) - {str(c) for c in charge_ids}:
        bad.append(f"a key answered charge {cid}, which is not in the ledger")
    return bad


async def _reader(db: Database, deadline: float, tally: Tally, found: list[str]) -> None:
    while time.monotonic() < deadline:
        found.extend(await snapshot_violations(db))
        tally.snapshots += 1
        await asyncio.sleep(0.01)


async def _checker(db: Database, deadline: float, found: list[str]) -> None:
    """``wallet check`` run against a live system must not report phantom violations."""
    while time.monotonic() < deadline:
        found.extend(f"wallet check: {v}" for v in (await check_books(db)).violations)
        await asyncio.sleep(0.05)


@pytest.mark.timeout(LONG_TIMEOUT)
async def test_bank_invariants_hold_in_every_snapshot_under_concurrent_money_movements(db):
    w = await seed_world(db, monthly_cents=60_000, phone=PHONES[0])
    # One small budget that runs dry (refusals under contention), two that keep money moving.
    for phone in PHONES[1:]:
        await add_client_with_decision(
            db,
            w,
            phone=phone,
            lines=[DecisionLineInput("Siivous", 2_000_000, ("siivous",))],
            valid_from=first_day(w.period),
        )
    await fund_period(db, w.period)
    tally, found = Tally(), []
    deadline = time.monotonic() + DURATION_S
    await asyncio.wait_for(
        asyncio.gather(
            *(_worker(db, w, seed, deadline, tally) for seed in range(WORKERS)),
            *(_reader(db, deadline, tally, found) for _ in range(READERS)),
            _checker(db, deadline, found),
        ),
        DURATION_S + 120,
    )
    assert found == [], found[:20]
    assert await snapshot_violations(db) == []
    report = await check_books(db)
    assert report.ok, report.violations
    # The workload really did contend: money ran out, refunds and holds happened.
    assert tally.ops["charge"] >= 10 and tally.ops["hold"] >= 2, tally.ops
    assert tally.snapshots >= 4, tally.snapshots
    # Every acknowledged key is in the ledger exactly once, under the charge it answered.
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(IdempotencyRecord.key, IdempotencyRecord.response).where(
                    IdempotencyRecord.scope == f"charge:{w.provider_id}"
                )
            )
        ).all()
        n_holds = len((await conn.execute(select(Hold.id).where(Hold.status == "captured"))).all())
        n_charges = len((await conn.execute(select(Charge.id))).all())
    stored = {k: str(r["id"]) for k, r in rows}
    assert stored == tally.charges
    assert n_charges == len(tally.charges) + n_holds
    print(f"\nbank test ({db.engine.dialect.name}): {dict(tally.ops)}, {tally.snapshots} snapshots")


async def test_the_snapshot_check_sees_a_broken_ledger(db):
    """The invariants above can fail: a stored balance nudged behind the ledger's back, a
    half-written key and a charge nobody asked for are each reported. (A negative balance
    cannot even be written: the accounts table refuses it with a CHECK constraint.)"""
    w = await seed_world(db, monthly_cents=5000, phone=PHONES[0])
    cid = await _charge(db, w, PHONES[0], 1000, "only")
    assert await snapshot_violations(db) == []
    async with db.engine.begin() as conn:
        await conn.execute(
            update(Account)
            .where(Account.kind == AccountKind.ENVELOPE)
            .values(balance_cents=Account.balance_cents + 1)
        )
        await conn.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "only")
            .values(status_code=0, response={"id": str(uuid.uuid4())})
        )
    found = "\n".join(await snapshot_violations(db))
    assert "stored 4001 != transfers 4000" in found
    assert "half-written" in found
    assert f"charge {cid} is the result of 0" in found
