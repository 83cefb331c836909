"""The database's own backstops hold (issue 23, item 4).

The use cases never write a negative balance, a second funding of a month, or a refund larger
than its charge: conditional UPDATEs and idempotency keys see to that. Behind them the schema
refuses the same rows by itself, so a bug in the code (or a hand-written fix in production)
cannot write them either. Each test here writes one such row straight into a real, consistent
ledger, past every use case, and shows that the database refuses it (``IntegrityError``,
naming the constraint that did) and that nothing changed: the books still prove.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from payments.checkout.cards import issue_card
from payments.checkout.charges import ChargeLineInput, Customer, capture_charge, refund_charge
from payments.checkout.phone import phone_checkout
from payments.checkout.tokens import issue_token
from payments.checkout.visits import create_visit_hold
from payments.clock import utcnow
from payments.db import Database
from payments.marketplace.settlements import settle_providers
from payments.models import (
    Account,
    Charge,
    ChargeLine,
    DecisionLine,
    Hold,
    HoldLine,
    IdempotencyRecord,
    PaymentRequest,
    PaymentToken,
    QrCard,
    Refund,
    Settlement,
    SettlementLine,
    StatementNotice,
    Transfer,
    TrustedProvider,
)
from payments.results import Happened
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import (
    World,
    assert_books_ok,
    at,
    envelopes,
    give_price,
    organizer_account_id,
    row_counts,
    seed_world,
    transfers,
    trust_provider,
)

JAN = "2031-01"
PHONE = "+358401234567"


@dataclass
class Ledger:
    """January of one client, with a row in every table that holds money or a promise."""

    w: World
    envelope: int
    envelope_balance: int
    hold_account: int
    hold_balance: int
    budget: int
    funding: Any  # TransferRow
    charge_transfer: Any  # TransferRow
    charge_id: uuid.UUID
    charge_line_id: uuid.UUID
    refund_id: uuid.UUID
    hold_id: uuid.UUID
    hold_line_id: uuid.UUID
    request_id: uuid.UUID
    token_hash: str
    card_id: uuid.UUID
    trusted_id: uuid.UUID
    settlement_id: uuid.UUID
    settlement_transfer_id: int
    settlement_line_id: int
    idempotency_scope: str
    idempotency_key: str
    decision_line_id: uuid.UUID


async def scalar(db: Database, statement: Any) -> Any:
    async with UnitOfWork(db, readonly=True) as uow:
        return (await uow.session.execute(statement)).scalar_one()


async def a_ledger(db: Database) -> Ledger:
    # The client trusts provider A only; B (taxi, and cleaning here) must ask.
    w = await seed_world(db, period=JAN, trusted=False)
    await trust_provider(db, w.wallet_id, w.provider_id)
    await give_price(db, w.other_provider_id, "siivous", 3500)
    cleaning = [ChargeLineInput("siivous", Decimal(2), 3500)]
    charged = await capture_charge(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=PHONE),
        lines=cleaning,
        idempotency_key="door-1",
        request_hash="h1",
        now=at(JAN, 3),
    )
    charge_id = uuid.UUID(charged.body["id"])
    refunded = await refund_charge(
        db,
        provider_id=w.provider_id,
        charge_id=charge_id,
        amount_cents=1000,
        reason=None,
        idempotency_key="refund-1",
        request_hash="r1",
        now=at(JAN, 4),
    )
    held = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=PHONE),
        lines=[ChargeLineInput("kotiapu", Decimal(1), 3800)],
        idempotency_key="visit-1",
        request_hash="v1",
        trusted_only=True,
        now=at(JAN, 5),
    )
    requested = await phone_checkout(
        db,
        provider_id=w.other_provider_id,
        phone_e164=PHONE,
        lines=cleaning,
        idempotency_key="ask-1",
        request_hash="a1",
        now=at(JAN, 5),
    )
    assert requested.what is Happened.PENDING_APPROVAL, requested.body
    await settle_providers(db, date(2031, 1, 3), now=at(JAN, 6))
    await issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    card = await issue_card(
        db,
        actor_id=w.case_manager,
        organizer_id=w.organizer_id,
        wallet_id=w.wallet_id,
        pin="2468",
    )
    hold_id = uuid.UUID(held.body["id"])
    (env,) = await envelopes(db, w.wallet_id)
    hold_account = int(
        await scalar(db, select(HoldLine.hold_account_id).where(HoldLine.hold_id == hold_id))
    )
    ledger = Ledger(
        w=w,
        envelope=env.id,
        envelope_balance=env.balance_cents,
        hold_account=hold_account,
        # The visit's 38 EUR and the payment request's 70 EUR.
        hold_balance=await scalar(
            db, select(Account.balance_cents).where(Account.id == hold_account)
        ),
        budget=await organizer_account_id(db, w.organizer_id, AccountKind.ORGANIZER_BUDGET),
        funding=(await transfers(db, kind="funding"))[0],
        charge_transfer=(await transfers(db, kind="charge"))[0],
        charge_id=charge_id,
        charge_line_id=await scalar(
            db, select(ChargeLine.id).where(ChargeLine.charge_id == charge_id)
        ),
        refund_id=uuid.UUID(refunded.body["id"]),
        hold_id=hold_id,
        hold_line_id=await scalar(db, select(HoldLine.id).where(HoldLine.hold_id == hold_id)),
        request_id=uuid.UUID(requested.body["request"]["id"]),
        token_hash=await scalar(
            db, select(PaymentToken.token_hash).where(PaymentToken.wallet_id == w.wallet_id)
        ),
        card_id=card.id,
        trusted_id=await scalar(
            db,
            select(TrustedProvider.id).where(
                TrustedProvider.wallet_id == w.wallet_id,
                TrustedProvider.provider_id == w.provider_id,
            ),
        ),
        settlement_id=await scalar(db, select(Settlement.id)),
        settlement_transfer_id=await scalar(db, select(Settlement.transfer_id)),
        settlement_line_id=await scalar(db, select(SettlementLine.id)),
        idempotency_scope=f"charge:{w.provider_id}",
        idempotency_key="door-1",
        decision_line_id=await scalar(
            db, select(Account.decision_line_id).where(Account.id == env.id)
        ),
    )
    await assert_books_ok(db)
    return ledger


async def snapshot(db: Database) -> tuple[Any, ...]:
    """What a refused write must leave as it was."""
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        accounts = (
            await s.execute(select(Account.id, Account.balance_cents).order_by(Account.id))
        ).all()
        others = [
            int((await s.execute(select(func.count()).select_from(model))).scalar_one())
            for model in (Hold, PaymentRequest, PaymentToken, QrCard, TrustedProvider, Settlement)
        ]
    return (await row_counts(db), accounts, others)


async def assert_refused_by(db: Database, constraint: str, sqlite: str, *statements: Any) -> None:
    """The write is refused with an IntegrityError that names ``constraint`` (PostgreSQL) or
    says ``sqlite`` (SQLite names CHECKs, but UNIQUE only by their columns); nothing changed."""
    before = await snapshot(db)
    with pytest.raises(IntegrityError) as info:
        async with db.engine.begin() as conn:
            for statement in statements:
                await conn.execute(statement)
    said = str(info.value.orig)
    assert (sqlite if db.is_sqlite else constraint) in said, said
    assert await snapshot(db) == before
    await assert_books_ok(db)


# --- the two the issue names -------------------------------------------------------------------


async def test_a_debit_below_zero_is_refused_by_the_balance_check(db):
    """An UPDATE without the ``balance >= amount`` guard (money rule 3's statement, minus its
    WHERE) that would take the envelope one cent below zero."""
    led = await a_ledger(db)
    await assert_refused_by(
        db,
        "ck_accounts_balance_nonnegative",
        "ck_accounts_balance_nonnegative",
        update(Account)
        .where(Account.id == led.envelope)
        .values(balance_cents=Account.balance_cents - (led.envelope_balance + 1)),
    )


async def test_a_hold_account_below_zero_is_refused_by_the_balance_check(db):
    led = await a_ledger(db)
    assert led.hold_balance == 3800 + 7000
    await assert_refused_by(
        db,
        "ck_accounts_balance_nonnegative",
        "ck_accounts_balance_nonnegative",
        update(Account)
        .where(Account.id == led.hold_account)
        .values(balance_cents=Account.balance_cents - (led.hold_balance + 1)),
    )


async def test_a_second_funding_of_the_same_envelope_and_month_is_refused(db):
    """A funding job whose own bookkeeping failed (``funded_period`` not seen) writes the
    month's funding again: the unique ``fund:<envelope>:<month>`` key refuses the transfer."""
    led = await a_ledger(db)
    assert led.funding.dedupe_key == f"fund:{led.envelope}:{JAN}"
    await assert_refused_by(
        db,
        "uq_transfers_dedupe_key",
        "UNIQUE constraint failed: transfers.dedupe_key",
        insert(Transfer).values(
            organizer_id=led.w.organizer_id,
            debit_account_id=led.funding.debit_account_id,
            credit_account_id=led.envelope,
            amount_cents=led.funding.amount_cents,
            kind="funding",
            period=JAN,
            dedupe_key=f"fund:{led.envelope}:{JAN}",
            created_at=utcnow(),
        ),
        update(Account)
        .where(Account.id == led.envelope)
        .values(balance_cents=Account.balance_cents + led.funding.amount_cents),
    )


# --- every other backstop of the money tables ------------------------------------------------


def transfer_row(led: Ledger, **values: Any) -> Any:
    row = {
        "organizer_id": led.w.organizer_id,
        "debit_account_id": led.budget,
        "credit_account_id": led.envelope,
        "amount_cents": 100,
        "kind": "funding",
        "period": JAN,
        "created_at": utcnow(),
        **values,
    }
    return insert(Transfer).values(row)


@dataclass(frozen=True)
class Backstop:
    constraint: str
    sqlite: str  # what SQLite's message says
    write: Callable[[Ledger], Any]


def check(constraint: str, write: Callable[[Ledger], Any]) -> Backstop:
    return Backstop(constraint, constraint, write)


def unique(constraint: str, columns: str, write: Callable[[Ledger], Any]) -> Backstop:
    return Backstop(constraint, f"UNIQUE constraint failed: {columns}", write)


BACKSTOPS = {
    # The ledger.
    "transfer of no money": check(
        "ck_transfers_amount_positive", lambda led: transfer_row(led, amount_cents=0)
    ),
    "transfer of negative money": check(
        "ck_transfers_amount_positive", lambda led: transfer_row(led, amount_cents=-100)
    ),
    "transfer from an account to itself": check(
        "ck_transfers_distinct_accounts",
        lambda led: transfer_row(led, debit_account_id=led.envelope),
    ),
    "expiry of a month twice": unique(
        "uq_transfers_dedupe_key",
        "transfers.dedupe_key",
        lambda led: transfer_row(led, dedupe_key=led.funding.dedupe_key, kind="expiry"),
    ),
    "second envelope for one decision line": unique(
        "uq_accounts_decision_line_id",
        "accounts.decision_line_id, accounts.kind",
        lambda led: insert(Account).values(
            organizer_id=led.w.organizer_id,
            kind=AccountKind.ENVELOPE,
            wallet_id=led.w.wallet_id,
            decision_line_id=led.decision_line_id,
            balance_cents=0,
        ),
    ),
    "second payable account of a provider": unique(
        "uq_accounts_provider_id",
        "accounts.provider_id",
        lambda led: insert(Account).values(
            organizer_id=led.w.organizer_id, kind="provider_payable", provider_id=led.w.provider_id
        ),
    ),
    "account of no known kind": check(
        "ck_accounts_kind_known",
        lambda led: update(Account).where(Account.id == led.budget).values(kind="bank"),
    ),
    # Charges and refunds.
    "charge refunded beyond its total": check(
        "ck_charges_refunds",
        lambda led: (
            update(Charge)
            .where(Charge.id == led.charge_id)
            .values(refunded_cents=Charge.total_cents + 1)
        ),
    ),
    "charge refunded below zero": check(
        "ck_charges_refunds",
        lambda led: update(Charge).where(Charge.id == led.charge_id).values(refunded_cents=-1),
    ),
    "charge of no money": check(
        "ck_charges_total_positive",
        lambda led: (
            update(Charge).where(Charge.id == led.charge_id).values(total_cents=0, refunded_cents=0)
        ),
    ),
    "charge line refunded beyond its amount": check(
        "ck_charge_lines_refunds",
        lambda led: (
            update(ChargeLine)
            .where(ChargeLine.id == led.charge_line_id)
            .values(refunded_cents=ChargeLine.amount_cents + 1)
        ),
    ),
    "charge line of no money": check(
        "ck_charge_lines_amount_positive",
        lambda led: (
            update(ChargeLine)
            .where(ChargeLine.id == led.charge_line_id)
            .values(amount_cents=0, refunded_cents=0)
        ),
    ),
    "refund of no money": check(
        "ck_refunds_amount_positive",
        lambda led: update(Refund).where(Refund.id == led.refund_id).values(amount_cents=0),
    ),
    # Retried writes.
    "second result for one idempotency key": unique(
        "pk_idempotency_keys",
        "idempotency_keys.scope, idempotency_keys.key",
        lambda led: insert(IdempotencyRecord).values(
            scope=led.idempotency_scope,
            key=led.idempotency_key,
            request_hash="another",
            status_code=201,
            response={},
            created_at=utcnow(),
        ),
    ),
    "second statement notice for a month": unique(
        "pk_statement_notices",
        "statement_notices.wallet_id, statement_notices.period",
        lambda led: insert(StatementNotice).values(
            [
                {
                    "wallet_id": led.w.wallet_id,
                    "period": JAN,
                    "organizer_id": led.w.organizer_id,
                    "created_at": utcnow(),
                }
            ]
            * 2
        ),
    ),
    # Holds and requests.
    "hold captured beyond what it held": check(
        "ck_holds_captured_range",
        lambda led: (
            update(Hold).where(Hold.id == led.hold_id).values(captured_cents=Hold.amount_cents + 1)
        ),
    ),
    "hold of no money": check(
        "ck_holds_amount_positive",
        lambda led: update(Hold).where(Hold.id == led.hold_id).values(amount_cents=0),
    ),
    "hold in no known state": check(
        "ck_holds_status_known",
        lambda led: update(Hold).where(Hold.id == led.hold_id).values(status="paid"),
    ),
    "hold line of no money": check(
        "ck_hold_lines_amount_positive",
        lambda led: update(HoldLine).where(HoldLine.id == led.hold_line_id).values(amount_cents=0),
    ),
    "payment request of no money": check(
        "ck_payment_requests_total_positive",
        lambda led: (
            update(PaymentRequest).where(PaymentRequest.id == led.request_id).values(total_cents=0)
        ),
    ),
    "payment request in no known state": check(
        "ck_payment_requests_status_known",
        lambda led: (
            update(PaymentRequest).where(PaymentRequest.id == led.request_id).values(status="paid")
        ),
    ),
    # Consent at the door.
    "second token with the same hash": unique(
        "uq_payment_tokens_token_hash",
        "payment_tokens.token_hash",
        lambda led: insert(PaymentToken).values(
            organizer_id=led.w.organizer_id,
            wallet_id=led.w.wallet_id,
            token_hash=led.token_hash,
            code_hash="x" * 64,
            expires_at=utcnow(),
            created_at=utcnow(),
        ),
    ),
    "card with negative failed PINs": check(
        "ck_qr_cards_attempts_nonnegative",
        lambda led: update(QrCard).where(QrCard.id == led.card_id).values(failed_attempts=-1),
    ),
    "card in no known state": check(
        "ck_qr_cards_status_known",
        lambda led: update(QrCard).where(QrCard.id == led.card_id).values(status="open"),
    ),
    "trusted month total below zero": check(
        "ck_trusted_providers_spent_nonnegative",
        lambda led: (
            update(TrustedProvider)
            .where(TrustedProvider.id == led.trusted_id)
            .values(month_spent_cents=-1)
        ),
    ),
    "trusted per-charge cap of nothing": check(
        "ck_trusted_providers_cap_positive",
        lambda led: (
            update(TrustedProvider)
            .where(TrustedProvider.id == led.trusted_id)
            .values(per_charge_cap_cents=0)
        ),
    ),
    "trusted monthly cap of nothing": check(
        "ck_trusted_providers_monthly_cap_positive",
        lambda led: (
            update(TrustedProvider)
            .where(TrustedProvider.id == led.trusted_id)
            .values(monthly_cap_cents=0)
        ),
    ),
    "provider trusted twice": unique(
        "uq_trusted_providers_wallet_id",
        "trusted_providers.wallet_id, trusted_providers.provider_id",
        lambda led: insert(TrustedProvider).values(
            organizer_id=led.w.organizer_id,
            wallet_id=led.w.wallet_id,
            provider_id=led.w.provider_id,
            per_charge_cap_cents=100,
            month_spent_cents=0,
            created_at=utcnow(),
        ),
    ),
    # Settlements.
    "settlement of no money": check(
        "ck_settlements_amount_positive",
        lambda led: (
            update(Settlement).where(Settlement.id == led.settlement_id).values(amount_cents=0)
        ),
    ),
    "settlement line of no money": check(
        "ck_settlement_lines_amount_nonzero",
        lambda led: (
            update(SettlementLine)
            .where(SettlementLine.id == led.settlement_line_id)
            .values(amount_cents=0)
        ),
    ),
    "one transfer paying two settlements": unique(
        "uq_settlements_transfer_id",
        "settlements.transfer_id",
        lambda led: insert(Settlement).values(
            organizer_id=led.w.organizer_id,
            provider_id=led.w.provider_id,
            batch_id=uuid.uuid4(),
            reference="RF00AGAIN",
            until=date(2031, 1, 3),
            cutoff_at=utcnow(),
            amount_cents=6000,
            transfer_id=led.settlement_transfer_id,
            created_at=utcnow(),
        ),
    ),
    # Budgets.
    "decision line of no money": check(
        "ck_decision_lines_amount_positive",
        lambda led: (
            update(DecisionLine)
            .where(DecisionLine.id == led.decision_line_id)
            .values(monthly_amount_cents=0)
        ),
    ),
}


@pytest.mark.parametrize("name", list(BACKSTOPS))
async def test_the_schema_refuses(db, name):
    backstop = BACKSTOPS[name]
    led = await a_ledger(db)
    await assert_refused_by(db, backstop.constraint, backstop.sqlite, backstop.write(led))
