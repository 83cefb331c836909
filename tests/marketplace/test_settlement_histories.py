"""Random histories of charges, refunds and settlements against a plain model (hypothesis).

For every history, on both engines: each settlement run pays exactly what the model says
(open movements before the cut-off, when they add up to more than zero), a rerun moves nothing,
no charge is in two settlements, settlement totals equal the ledger's, and ``check_books`` holds.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from sqlalchemy import func, select

from payments.books import check_books
from payments.budgets.catalogue import DecisionLineInput
from payments.db import Database, create_database
from payments.errors import InsufficientFunds
from payments.ledger.periods import HELSINKI
from payments.marketplace import settlements as st
from payments.models import Settlement, SettlementLine
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import account_balance, organizer_account_id, seed_world
from tests.support.databases import truncate
from tests.support.money import charged, exactly, refund

START = datetime(2031, 1, 1, 8, tzinfo=HELSINKI).astimezone(UTC)
END = datetime(2031, 1, 29, tzinfo=HELSINKI).astimezone(UTC)

Op = tuple[str, int, int, int]  # (kind, hours forward, amount/which, provider or days back)
ops = hs.lists(
    hs.one_of(
        hs.tuples(hs.just("charge"), hs.integers(1, 30), hs.integers(1, 6000), hs.integers(0, 1)),
        hs.tuples(
            hs.just("refund"), hs.integers(1, 30), hs.integers(0, 10**6), hs.integers(1, 100)
        ),
        hs.tuples(hs.just("settle"), hs.integers(1, 30), hs.integers(0, 2), hs.integers(0, 1)),
    ),
    min_size=1,
    max_size=25,
)


@dataclass(frozen=True)
class Target:
    make_url: Callable[[], str]


@pytest.fixture
def target(engine_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        counter = iter(range(10**6))

        def copy() -> str:
            path = tmp_path / f"example{next(counter)}.sqlite3"
            shutil.copy(template, path)
            return f"sqlite+aiosqlite:///{path}"

        return Target(copy)
    url: str = request.getfixturevalue("postgres_url")
    return Target(lambda: url)


@dataclass
class Move:
    provider: int
    cents: int  # + charge, - refund
    at: datetime
    settled: bool = False


@dataclass
class Model:
    moves: list[Move] = field(default_factory=list)
    charges: list[tuple[uuid.UUID, int, int]] = field(default_factory=list)  # id, provider, left

    def settle(self, cutoff: datetime) -> dict[int, int]:
        paid: dict[int, int] = {}
        for p in (0, 1):
            open_ = [m for m in self.moves if m.provider == p and not m.settled and m.at < cutoff]
            net = sum(m.cents for m in open_)
            if open_ and net > 0:
                for m in open_:
                    m.settled = True
                paid[p] = net
        return paid


async def run_history(db: Database, history: list[Op]) -> None:
    w = await seed_world(
        db,
        period="2031-01",
        lines=[
            DecisionLineInput("Kotiapu ja siivous", 200_000, ("kotiapu", "siivous")),
            DecisionLineInput("Kuljetus", 200_000, ("kuljetus",)),
        ],
    )
    providers = [w.provider_id, w.other_provider_id]
    categories = ["siivous", "kuljetus"]
    model = Model()
    clock = START
    settled_total = 0
    for kind, hours, amount, extra in history:
        clock += timedelta(hours=hours)
        if clock >= END:
            break
        if kind == "charge":
            try:
                cid = await charged(
                    db,
                    w,
                    exactly(amount, categories[extra]),
                    now=clock,
                    provider_id=providers[extra],
                )
            except InsufficientFunds:
                continue
            model.charges.append((cid, extra, amount))
            model.moves.append(Move(extra, amount, clock))
        elif kind == "refund" and model.charges:
            i = amount % len(model.charges)
            cid, p, left = model.charges[i]
            cents = max(1, left * extra // 100)
            if left <= 0:
                continue
            await refund(db, w, cid, cents, now=clock, provider_id=providers[p])
            model.charges[i] = (cid, p, left - cents)
            model.moves.append(Move(p, -cents, clock))
        elif kind == "settle":
            until = (clock.astimezone(HELSINKI) - timedelta(days=amount)).date()
            run = await st.settle_providers(db, until, now=clock)
            expected = model.settle(st.cutoff_instant(until))
            got = {providers.index(s.provider_id): s.amount_cents for s in run.settled}
            assert got == expected
            settled_total += sum(got.values())
            rerun = await st.settle_providers(db, until, now=clock)
            assert rerun.settled == []

    # The ledger agrees: the settlement account holds exactly what was settled, and it equals
    # the settlements' amounts and their lines.
    settle_acc = await organizer_account_id(db, w.organizer_id, AccountKind.SETTLEMENT)
    assert await account_balance(db, settle_acc) == settled_total
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        amounts = (await s.execute(select(func.sum(Settlement.amount_cents)))).scalar_one()
        lines = (await s.execute(select(func.sum(SettlementLine.amount_cents)))).scalar_one()
        charge_lines = (
            await s.execute(
                select(SettlementLine.charge_id, SettlementLine.settlement_id).where(
                    SettlementLine.kind == "charge"
                )
            )
        ).all()
    assert int(amounts or 0) == int(lines or 0) == settled_total
    in_settlements: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for cid, sid in charge_lines:
        in_settlements[cid].add(sid)
    assert all(len(sids) == 1 for sids in in_settlements.values())
    report = await check_books(db)
    assert report.ok, report.violations


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(history=ops)
def test_random_histories_settle_exactly_once(target: Target, history: list[Op]) -> None:
    async def go() -> None:
        db = create_database(target.make_url())
        try:
            if db.is_postgres:
                await truncate(db)
            await run_history(db, history)
        finally:
            await db.dispose()

    asyncio.run(go())
