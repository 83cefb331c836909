"""A hypothesis state machine against a plain Python model of one client's envelopes.

Rules: fund the model's month, charge (random service, quantity, price, fresh or reused key),
refund (random charge, random or whole amount, fresh or reused key), retry an earlier request,
advance the month (expiry then funding), and advance the month with a run killed after its
expiry step. After every step the books are checked (``check_books``) and each envelope's
balance and funded month in ``wallet_view`` must equal the model's, as must the provider's
payable balance.

The machine owns its event loop (``asyncio.Runner``) and, per example, a database of its own:
a copy of the migrated SQLite template, or the session's PostgreSQL database emptied.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from payments.books import check_books
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.charges import (
    ChargeLineInput,
    Customer,
    capture_charge,
    refund_charge,
)
from payments.db import Database, create_database
from payments.errors import (
    DomainError,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidInput,
    NotInBudget,
    PriceAboveList,
    ProviderNotApproved,
    RefundTooLarge,
)
from payments.idempotency import request_fingerprint
from payments.ledger.periods import next_period
from payments.reporting.wallet_views import wallet_view
from payments.results import Happened, Outcome
from tests.factories import World, account_balance, at, provider_payable_id, seed_world
from tests.reliability.bounds import pick
from tests.support.databases import truncate

T = TypeVar("T")

START = "2031-01"
LIST_PRICES = {"siivous": 3500, "kotiapu": 3800}  # seed_world's first provider
CATEGORIES = ["siivous", "kotiapu", "kuljetus"]  # kuljetus: the provider has no price for it
QUANTITIES = [Decimal(q) for q in ("0.5", "1", "1.25", "2", "3", "0.333", "0.001")]
PRICES = st.one_of(
    st.sampled_from([1, 100, 1234, 3500, 3501, 3800, 3801, 4600]), st.integers(1, 4000)
)


def amount_of(quantity: Decimal, unit_price: int) -> int:
    return int((quantity * unit_price).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass
class ModelCharge:
    id: str
    period: str  # the month the money came from
    lines: list[list[int]]  # [envelope index, amount, refunded], in line order
    refunded: int = 0

    @property
    def total(self) -> int:
        return sum(amount for _, amount, _ in self.lines)


@dataclass
class Request:
    """A request as sent, so that a retry can send exactly the same again."""

    kind: str  # "charge" or "refund"
    key: str
    hash: str
    args: dict[str, Any]
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    engine: str
    make_url: Callable[[], str]


class WalletMachine(RuleBasedStateMachine):
    def __init__(self, target: Target) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.db: Database = create_database(target.make_url())
        if self.db.is_postgres:
            self.run(truncate(self.db))
        # The model.
        self.period = START  # the month we are in (charges happen in it)
        self.funded_period: str | None = None
        self.closed = False  # the funded month has been expired, the next not yet funded
        self.monthly: list[int] = []
        self.balances: list[int] = []
        self.envelope_of: dict[str, int] = {}
        self.cap = 0
        self.charges: list[ModelCharge] = []
        self.done: dict[tuple[str, str], Request] = {}  # (kind, key) -> first successful request
        self.payable = 0

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def teardown(self) -> None:
        try:
            self.run(self.db.dispose())
        finally:
            self.runner.close()

    # --- setup -------------------------------------------------------------------------------

    @initialize(
        monthly=st.sampled_from([5000, 10_000, 30_000]),
        carry=st.sampled_from([0, 2000, 50_000]),
        two_lines=st.booleans(),
    )
    def setup(self, monthly: int, carry: int, two_lines: bool) -> None:
        if two_lines:
            lines = [
                DecisionLineInput("Kotiapu", monthly, ("kotiapu",)),
                DecisionLineInput("Siivous", monthly // 2, ("siivous",)),
            ]
            self.envelope_of = {"kotiapu": 0, "siivous": 1}
            self.monthly = [monthly, monthly // 2]
        else:
            lines = [DecisionLineInput("Kotiapu ja siivous", monthly, ("kotiapu", "siivous"))]
            self.envelope_of = {"kotiapu": 0, "siivous": 0}
            self.monthly = [monthly]
        self.balances = [0] * len(self.monthly)
        self.cap = carry
        self.w: World = self.run(
            seed_world(
                self.db,
                fund=False,
                period=START,
                lines=lines,
                carry_over="capped" if carry else "none",
                carry_cap_cents=carry,
            )
        )
        self.payable_id = self.run(provider_payable_id(self.db, self.w.provider_id))

    # --- the model's funding ------------------------------------------------------------------

    def _expire(self) -> None:
        if self.funded_period is not None and self.funded_period < self.period and not self.closed:
            self.balances = [min(b, self.cap) for b in self.balances]
            self.closed = True

    def _fund(self) -> None:
        self._expire()
        if self.funded_period is None or self.funded_period < self.period:
            self.balances = [b + m for b, m in zip(self.balances, self.monthly, strict=True)]
            self.funded_period = self.period
            self.closed = False

    # --- rules ----------------------------------------------------------------------------------

    @rule()
    def fund(self) -> None:
        self.run(fund_period(self.db, self.period))
        self._fund()

    @rule()
    def advance_month(self) -> None:
        self.period = next_period(self.period)
        self.run(fund_period(self.db, self.period))
        self._fund()

    @rule()
    def advance_month_killed_after_expiry(self) -> None:
        self.period = next_period(self.period)
        self.run(fund_period(self.db, self.period, stop_after="expiry"))
        self._expire()

    @rule(
        data=st.data(),
        n_lines=st.integers(1, 2),
        day=st.integers(1, 28),
        reuse_key=st.booleans(),
    )
    def charge(self, data: st.DataObject, n_lines: int, day: int, reuse_key: bool) -> None:
        lines = [
            ChargeLineInput(
                data.draw(st.sampled_from(CATEGORIES), label="category"),
                data.draw(st.sampled_from(QUANTITIES), label="quantity"),
                data.draw(PRICES, label="unit_price_cents"),
            )
            for _ in range(n_lines)
        ]
        key = self._key("charge", data, reuse_key)
        args = {"lines": lines, "now": at(self.period, day)}
        req_hash = request_fingerprint(
            *(f"{ln.category}|{ln.quantity}|{ln.unit_price_cents}" for ln in lines)
        )
        request = Request("charge", key, req_hash, args)
        expected = self._predict_charge(request)
        self._send(request, expected)

    @precondition(lambda self: bool(self.charges))
    @rule(data=st.data(), reuse_key=st.booleans())
    def refund(self, data: st.DataObject, reuse_key: bool) -> None:
        target = data.draw(st.sampled_from(self.charges), label="charge")
        amount = data.draw(
            st.one_of(st.none(), st.integers(0, target.total + 500), st.just(target.total)),
            label="amount",
        )
        key = self._key("refund", data, reuse_key)
        args = {"charge_id": target.id, "amount": amount, "now": at(self.period, 20)}
        request = Request("refund", key, request_fingerprint(target.id, str(amount)), args)
        expected = self._predict_refund(request, target)
        self._send(request, expected)

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        first = data.draw(st.sampled_from(sorted(self.done.values(), key=lambda r: r.key)))
        out = self._call(first)
        assert isinstance(out, Outcome), out
        assert out.replayed and out.what is Happened.CREATED
        assert out.body == first.body

    # --- prediction ---------------------------------------------------------------------------

    def _key(self, kind: str, data: st.DataObject, reuse: bool) -> str:
        used = sorted(k for (knd, k) in self.done if knd == kind)
        if reuse and used:
            return data.draw(st.sampled_from(used), label="reused key")
        return uuid.uuid4().hex

    def _replay_or_reused(self, request: Request) -> Any:
        first = self.done.get((request.kind, request.key))
        if first is None:
            return None
        if first.hash == request.hash:
            return ("replay", first.body)
        return IdempotencyKeyReused

    def _predict_charge(self, request: Request) -> Any:
        lines: list[ChargeLineInput] = request.args["lines"]
        amounts = [amount_of(ln.quantity, ln.unit_price_cents) for ln in lines]
        if any(a <= 0 for a in amounts):
            return InvalidInput
        known = self._replay_or_reused(request)
        if known is not None:
            return known
        for ln in lines:
            if ln.category not in LIST_PRICES:
                return ProviderNotApproved
            if ln.unit_price_cents > LIST_PRICES[ln.category]:
                return PriceAboveList
        if self.funded_period is None:
            return NotInBudget
        need = [0] * len(self.balances)
        for ln, a in zip(lines, amounts, strict=True):
            need[self.envelope_of[ln.category]] += a
        if any(n > b for n, b in zip(need, self.balances, strict=True)):
            return InsufficientFunds

        def apply(body: dict[str, Any]) -> None:
            assert body["total_cents"] == sum(amounts)
            assert body["period"] == self.funded_period
            assert [ln["amount_cents"] for ln in body["lines"]] == amounts
            for i, n in enumerate(need):
                self.balances[i] -= n
            self.payable += sum(amounts)
            assert self.funded_period is not None
            self.charges.append(
                ModelCharge(
                    body["id"],
                    self.funded_period,
                    [
                        [self.envelope_of[ln.category], a, 0]
                        for ln, a in zip(lines, amounts, strict=True)
                    ],
                )
            )

        return ("apply", apply)

    def _predict_refund(self, request: Request, target: ModelCharge) -> Any:
        amount = request.args["amount"]
        if amount is not None and amount <= 0:
            return InvalidInput
        known = self._replay_or_reused(request)
        if known is not None:
            return known
        left = target.total - target.refunded
        amount = left if amount is None else amount
        if amount <= 0 or amount > left:
            return RefundTooLarge
        month_open = self.funded_period == target.period and not self.closed

        def apply(body: dict[str, Any]) -> None:
            assert body["amount_cents"] == amount
            assert body["returned_to"] == ("envelope" if month_open else "organizer")
            target.refunded += amount
            assert body["charge_refunded_cents"] == target.refunded
            rest = amount
            for line in reversed(target.lines):
                take = min(rest, line[1] - line[2])
                line[2] += take
                rest -= take
                if month_open:
                    self.balances[line[0]] += take
            assert rest == 0
            self.payable -= amount

        return ("apply", apply)

    # --- calling the system ---------------------------------------------------------------

    def _call(self, request: Request) -> Outcome | DomainError:
        a = request.args
        try:
            if request.kind == "charge":
                return self.run(
                    capture_charge(
                        self.db,
                        provider_id=self.w.provider_id,
                        customer=Customer(wallet_id=self.w.wallet_id),
                        lines=a["lines"],
                        idempotency_key=request.key,
                        request_hash=request.hash,
                        now=a["now"],
                    )
                )
            return self.run(
                refund_charge(
                    self.db,
                    provider_id=self.w.provider_id,
                    charge_id=uuid.UUID(a["charge_id"]),
                    amount_cents=a["amount"],
                    reason=None,
                    idempotency_key=request.key,
                    request_hash=request.hash,
                    now=a["now"],
                )
            )
        except DomainError as exc:
            return exc

    def _send(self, request: Request, expected: Any) -> None:
        out = self._call(request)
        if isinstance(expected, type):
            assert isinstance(out, expected), f"expected {expected.__name__}, got {out!r}"
            return
        assert isinstance(out, Outcome), f"expected success, got {out!r}"
        assert out.what is Happened.CREATED
        what, value = expected
        if what == "replay":
            assert out.replayed and out.body == value
            return
        assert not out.replayed
        value(out.body)
        request.body = out.body
        self.done[(request.kind, request.key)] = request

    # --- after every step -----------------------------------------------------------------

    @invariant()
    def books_balance_and_match_the_model(self) -> None:
        if not hasattr(self, "w"):
            return
        report = self.run(check_books(self.db))
        assert report.ok, report.violations
        view = self.run(wallet_view(self.db, self.w.wallet_id))
        assert [e["balance_cents"] for e in view["envelopes"]] == self.balances
        assert {e["period"] for e in view["envelopes"]} == {self.funded_period}
        assert self.run(account_balance(self.db, self.payable_id)) == self.payable
        for b, m in zip(self.balances, self.monthly, strict=True):
            assert b <= m + self.cap  # money rule 4


# 15 runs of 30 steps per engine in CI (about 40 s on SQLite); 100 in the long run.
SETTINGS = settings(
    max_examples=int(pick(15, 100)),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def target(engine_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        counter = iter(range(10**6))

        def copy() -> str:
            path = tmp_path / f"example{next(counter)}.sqlite3"
            shutil.copy(template, path)
            return f"sqlite+aiosqlite:///{path}"

        return Target("sqlite", copy)
    url: str = request.getfixturevalue("postgres_url")
    return Target("postgres", lambda: url)


def test_wallet_state_machine(target: Target) -> None:
    run_state_machine_as_test(lambda: WalletMachine(target), settings=SETTINGS)
