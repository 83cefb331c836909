"""Statements and reports against a plain model, over random histories (hypothesis).

Each history runs on both engines: three months of charges, refunds (into the open month or,
for a closed month, to the county), visit holds captured, voided or left to expire, and
monthly funding with expiry (no carry-over, or a capped one). Afterwards, for every month and
envelope, the statement's opening, funded, spent, refunded, expired and closing equal the
model's; its charge and refund items add up to its spent and refunded; the last closing is the
ledger's balance (envelope + hold account); the monthly and per-client reports say the same;
and ``wallet check`` (which now reconciles the reports with the ledger) holds.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from sqlalchemy import select

from payments.books import check_books
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.charges import ChargeLineInput, Customer
from payments.checkout.visits import capture_hold, create_visit_hold, expire_holds, void_hold
from payments.db import Database, create_database
from payments.errors import DomainError, InsufficientFunds
from payments.ledger.periods import HELSINKI, current_period, next_period, previous_period
from payments.models import Account
from payments.reporting import reports, statements
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import seed_world
from tests.support.databases import truncate
from tests.support.money import charged, exactly, refund

# Three months that have all begun: statements exist only up to the current month.
P2 = previous_period(current_period())
P1 = previous_period(P2)
P0 = previous_period(P1)
MONTHS = (P0, P1, P2)
CATEGORY = ("siivous", "kuljetus")
MONTHLY = (50_000, 20_000)
CAP = 3_000

Op = tuple[str, int, int, int]  # (kind, hours forward, amount/which, envelope/percent)
ops = hs.lists(
    hs.one_of(
        hs.tuples(hs.just("charge"), hs.integers(1, 40), hs.integers(1, 9000), hs.integers(0, 1)),
        hs.tuples(
            hs.just("refund"), hs.integers(1, 40), hs.integers(0, 10**6), hs.integers(1, 100)
        ),
        hs.tuples(hs.just("hold"), hs.integers(1, 10), hs.integers(1, 9000), hs.integers(0, 1)),
        hs.tuples(
            hs.just("capture"), hs.integers(1, 30), hs.integers(0, 10**6), hs.integers(0, 100)
        ),
        hs.tuples(hs.just("void"), hs.integers(1, 30), hs.integers(0, 10**6), hs.just(0)),
        hs.tuples(hs.just("tick"), hs.integers(1, 60), hs.just(0), hs.just(0)),
        hs.tuples(hs.just("month"), hs.just(0), hs.just(0), hs.just(0)),
    ),
    min_size=1,
    max_size=30,
)


@dataclass
class Totals:
    funded: int = 0
    spent: int = 0
    refunded: int = 0
    expired: int = 0


@dataclass
class HoldModel:
    id: uuid.UUID
    env: int
    amount: int
    period: str
    expires_at: datetime


@dataclass
class Model:
    """The ledger as a person would keep it: per envelope, the money left and per-month sums."""

    capped: bool
    period: str = P0
    avail: list[int] = field(default_factory=lambda: list(MONTHLY))
    months: dict[tuple[int, str], Totals] = field(default_factory=lambda: defaultdict(Totals))
    charges: list[tuple[uuid.UUID, int, int, str]] = field(default_factory=list)
    holds: list[HoldModel] = field(default_factory=list)

    def __post_init__(self) -> None:
        for e in (0, 1):
            self.months[(e, P0)].funded = MONTHLY[e]

    def release(self, h: HoldModel, captured: int) -> None:
        """Close a hold: the capture is spent in the hold's month; the rest returns to the
        envelope while that month is open, else it expires."""
        self.holds.remove(h)
        self.months[(h.env, h.period)].spent += captured
        rest = h.amount - captured
        if h.period == self.period:
            self.avail[h.env] += rest
        else:
            self.months[(h.env, h.period)].expired += rest

    def next_month(self) -> None:
        new = next_period(self.period)
        for e in (0, 1):
            keep = min(self.avail[e], CAP) if self.capped else 0
            self.months[(e, self.period)].expired += self.avail[e] - keep
            self.avail[e] = keep + MONTHLY[e]
            self.months[(e, new)].funded += MONTHLY[e]
        self.period = new


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


def _start(period: str) -> datetime:
    y, m = (int(x) for x in period.split("-"))
    return datetime(y, m, 1, 8, tzinfo=HELSINKI).astimezone(UTC)


def _lines(env: int, cents: int) -> list[ChargeLineInput]:
    return [ChargeLineInput(CATEGORY[env], Decimal(cents) / 100, 100)]


async def _balances(db: Database, wallet_id: uuid.UUID) -> dict[int, int]:
    """Envelope id -> stored balance of the envelope plus its hold account."""
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(Account.id, Account.kind, Account.decision_line_id, Account.balance_cents)
                .where(
                    Account.wallet_id == wallet_id,
                    Account.kind.in_((AccountKind.ENVELOPE, AccountKind.HOLD)),
                )
                .order_by(Account.id)
            )
        ).all()
    env_of = {line: acc for acc, kind, line, _ in rows if kind == AccountKind.ENVELOPE}
    out: dict[int, int] = defaultdict(int)
    for _acc, _kind, line, bal in rows:
        out[env_of[line]] += int(bal or 0)
    return dict(out)


async def run_history(db: Database, history: list[Op], capped: bool) -> None:
    w = await seed_world(
        db,
        period=P0,
        lines=[
            DecisionLineInput("Kotiapu ja siivous", MONTHLY[0], ("kotiapu", "siivous")),
            DecisionLineInput("Kuljetus", MONTHLY[1], ("kuljetus",)),
        ],
        carry_over="capped" if capped else "none",
        carry_cap_cents=CAP if capped else 0,
    )
    providers = (w.provider_id, w.other_provider_id)
    model = Model(capped=capped)
    clock = _start(P0)
    for kind, hours, amount, extra in history:
        clock += timedelta(hours=hours)
        if kind == "charge":
            try:
                cid = await charged(
                    db, w, exactly(amount, CATEGORY[extra]), now=clock, provider_id=providers[extra]
                )
            except InsufficientFunds:
                assert model.avail[extra] < amount
                continue
            model.avail[extra] -= amount
            model.months[(extra, model.period)].spent += amount
            model.charges.append((cid, extra, amount, model.period))
        elif kind == "refund" and model.charges:
            i = amount % len(model.charges)
            cid, env, left, money_period = model.charges[i]
            cents = max(1, left * extra // 100)
            if left <= 0:
                continue
            await refund(db, w, cid, cents, now=clock, provider_id=providers[env])
            model.charges[i] = (cid, env, left - cents, money_period)
            if money_period == model.period:
                model.avail[env] += cents
                model.months[(env, money_period)].refunded += cents
        elif kind == "hold":
            try:
                out = await create_visit_hold(
                    db,
                    provider_id=providers[extra],
                    customer=Customer(phone_e164="+358401234567"),
                    lines=_lines(extra, amount),
                    idempotency_key=uuid.uuid4().hex,
                    request_hash=uuid.uuid4().hex,
                    ttl=timedelta(hours=36),
                    trusted_only=True,
                    now=clock,
                )
            except InsufficientFunds:
                assert model.avail[extra] < amount
                continue
            model.avail[extra] -= amount
            hid = uuid.UUID(out.body["id"])
            model.holds.append(
                HoldModel(hid, extra, amount, model.period, clock + timedelta(hours=36))
            )
        elif kind in ("capture", "void") and model.holds:
            h = model.holds[amount % len(model.holds)]
            if kind == "void":
                await void_hold(db, provider_id=providers[h.env], hold_id=h.id, now=clock)
                model.release(h, 0)
                continue
            if clock >= h.expires_at:
                continue  # too late to capture; a tick expires it
            take = max(1, h.amount * extra // 100)
            try:
                await capture_hold(
                    db,
                    provider_id=providers[h.env],
                    hold_id=h.id,
                    lines=_lines(h.env, take),
                    idempotency_key=uuid.uuid4().hex,
                    request_hash=uuid.uuid4().hex,
                    now=clock,
                )
            except DomainError as exc:  # pragma: no cover - would be a model error
                raise AssertionError(f"capture refused: {exc}") from exc
            model.release(h, take)
        elif kind == "tick":
            await expire_holds(db, now=clock)
            for h in [h for h in model.holds if h.expires_at <= clock]:
                model.release(h, 0)
        elif kind == "month" and model.period != MONTHS[-1]:
            new = next_period(model.period)
            clock = max(clock, _start(new))
            await fund_period(db, new)
            model.next_month()

    balances = await _balances(db, w.wallet_id)
    envelopes = sorted(balances)
    # Statements, month by month and envelope by envelope.
    months = await statements.statement_months(db, w.wallet_id)
    assert [m["period"] for m in months] == [p for p in reversed(MONTHS) if p <= model.period]
    assert all(m["closed"] for m in months)
    closing = {e: 0 for e in (0, 1)}
    for period in MONTHS:
        st = await statements.statement(db, w.wallet_id, period, language="sv")
        assert [e.envelope_id for e in st.envelopes] == envelopes
        for e, env in enumerate(st.envelopes):
            want = model.months.get((e, period), Totals())
            got = Totals(env.funded_cents, env.spent_cents, env.refunded_cents, env.expired_cents)
            assert got == want, (period, e, got, want)
            assert env.other_cents == 0
            assert env.opening_cents == closing[e]
            closing[e] += want.funded - want.spent + want.refunded - want.expired
            assert env.closing_cents == closing[e]
            assert env.closing_cents >= 0
            assert sum(c.amount_cents for c in env.charges) == env.spent_cents
            assert sum(r.amount_cents for r in env.refunds) == env.refunded_cents
        assert st.closing_cents == sum(env.closing_cents for env in st.envelopes)
    # The last closing is what the ledger holds now, and the held part is the open holds.
    last = await statements.statement(db, w.wallet_id, MONTHS[-1])
    for e, env in enumerate(last.envelopes):
        assert env.closing_cents == balances[env.envelope_id]
        assert env.held_cents == sum(h.amount for h in model.holds if h.env == e)
        assert env.closing_cents - env.held_cents == model.avail[e]
    # The organizer's monthly report and the per-client report say the same.
    rows = await reports.monthly_report(db, organizer_id=w.organizer_id)
    per_month: dict[str, Totals] = defaultdict(Totals)
    for r in rows:
        t = per_month[r.period]
        t.funded += r.funded_cents
        t.spent += r.spent_cents
        t.refunded += r.refunded_cents
        t.expired += r.expired_cents
        assert r.other_cents == 0
    for period in MONTHS:
        want = Totals()
        for e in (0, 1):
            m = model.months.get((e, period), Totals())
            want.funded += m.funded
            want.spent += m.spent
            want.refunded += m.refunded
            want.expired += m.expired
        assert per_month.get(period, Totals()) == want, period
    client_rows = await reports.client_report(
        db, organizer_id=w.organizer_id, client_id=w.client_id, from_period=P0, to_period=P2
    )
    for r in client_rows:
        e = envelopes.index(r.envelope_id)
        want = model.months.get((e, r.period), Totals())
        assert Totals(r.funded_cents, r.spent_cents, r.refunded_cents, r.expired_cents) == want
        assert r.allotted_cents == MONTHLY[e]
    assert {(r.period, r.envelope_id) for r in client_rows} == {
        (p, env) for p in MONTHS for env in envelopes
    }
    report = await check_books(db)
    assert report.ok, report.violations


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(history=ops, capped=hs.booleans())
def test_random_histories_reconcile(target: Target, history: list[Op], capped: bool) -> None:
    async def go() -> None:
        db = create_database(target.make_url())
        try:
            if db.is_postgres:
                await truncate(db)
            await run_history(db, history, capped)
        finally:
            await db.dispose()

    asyncio.run(go())
