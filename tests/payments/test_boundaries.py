"""Boundary values and the smaller gaps of issue 23, through the use cases on both engines.

A cap, a last day or a lifetime is only tested when the value exactly at it and the value one
step past it are both tried: ``<=`` and ``<`` (or ``>=`` and ``>``) differ nowhere else.

* the trusted per-charge cap, for a charge and for a visit hold by phone: at the cap, captured
  (held); one cent above, refused;
* the trusted monthly cap: exactly reached, then one cent more; and again exactly in the new
  Helsinki month (``test_trust_month.py`` has the month boundary itself);
* a mandate on its last day (Helsinki), and the day after;
* a payment token's lifetime in the domain: 10..120 s, not 9 or 121;
* a refund's outbox event; refund idempotency keys per provider; the right PIN clears the
  count of wrong ones; a payment token or code of another organizer is never accepted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from payments import clock
from payments.checkout.cards import issue_card, verify_card
from payments.checkout.charges import (
    ChargeLineInput,
    Customer,
    refund_charge,
)
from payments.checkout.phone import phone_checkout
from payments.checkout.tokens import MAX_TTL_S, issue_token
from payments.checkout.trust import set_trusted
from payments.checkout.visits import create_visit_hold
from payments.db import Database
from payments.errors import CardInvalid, ConsentRequired, InvalidInput, TokenInvalid
from payments.models import Hold, OutboxEvent, PaymentToken, QrCard, Refund
from payments.outbox import REFUND_CREATED
from payments.people.mandates import mandate_scopes
from payments.results import Happened, Outcome
from payments.uow import UnitOfWork
from tests.factories import (
    World,
    add_carer,
    assert_books_ok,
    assert_refused,
    count,
    envelope,
    give_price,
    row_counts,
    seed_world,
    trust_provider,
)
from tests.support.money import PHONE, charge, refund

CLEANING_2H = [ChargeLineInput("siivous", Decimal(2), 3500)]  # 7,000
HOME_HELP_1H = [ChargeLineInput("kotiapu", Decimal(1), 3800)]  # 3,800
ONE_CENT = [ChargeLineInput("siivous", Decimal(1), 1)]  # below the list price is allowed

# 23:59:59 on 31 January and 00:00:00 on 1 February 2031 in Helsinki (UTC+2).
JAN_LAST_SECOND = datetime(2031, 1, 31, 21, 59, 59, tzinfo=UTC)
FEB_FIRST_SECOND = datetime(2031, 1, 31, 22, 0, 0, tzinfo=UTC)


async def trusted_world(
    db: Database, *, per_charge: int, monthly: int | None = None, period: str | None = None
) -> World:
    w = await seed_world(db, trusted=False, period=period, monthly_cents=100_000)
    await set_trusted(
        db,
        actor_id=w.client_principal,
        wallet_id=w.wallet_id,
        provider_id=w.provider_id,
        per_charge_cap_cents=per_charge,
        monthly_cap_cents=monthly,
    )
    return w


async def visit_hold(db: Database, w: World, lines: list[ChargeLineInput]) -> Outcome:
    return await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=PHONE),
        lines=lines,
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
        trusted_only=True,
    )


# --- the per-charge cap -----------------------------------------------------------------------


async def test_a_trusted_charge_exactly_at_the_per_charge_cap_is_captured(db):
    w = await trusted_world(db, per_charge=7000)
    out = await charge(db, w)
    assert out.what is Happened.CREATED and out.body["total_cents"] == 7000
    assert (await envelope(db, w.wallet_id)).balance_cents == 100_000 - 7000
    await assert_books_ok(db)


async def test_a_trusted_charge_one_cent_above_the_per_charge_cap_is_refused(db):
    w = await trusted_world(db, per_charge=6999)
    await assert_refused(db, ConsentRequired, charge(db, w))
    # At the door by phone number it becomes a payment request: the client decides.
    asked = await phone_checkout(
        db,
        provider_id=w.provider_id,
        phone_e164=PHONE,
        lines=CLEANING_2H,
        idempotency_key=uuid.uuid4().hex,
        request_hash="h",
    )
    assert asked.what is Happened.PENDING_APPROVAL and asked.body["outcome"] == "pending"
    await assert_books_ok(db)


async def test_a_visit_hold_by_phone_exactly_at_the_per_charge_cap_is_held(db):
    w = await trusted_world(db, per_charge=3800)
    out = await visit_hold(db, w, HOME_HELP_1H)
    assert out.what is Happened.CREATED and out.body["amount_cents"] == 3800
    assert (await envelope(db, w.wallet_id)).balance_cents == 100_000 - 3800
    await assert_books_ok(db)


async def test_a_visit_hold_by_phone_one_cent_above_the_per_charge_cap_is_refused(db):
    w = await trusted_world(db, per_charge=3799)
    holds = await count(db, Hold)
    await assert_refused(db, ConsentRequired, visit_hold(db, w, HOME_HELP_1H))
    assert await count(db, Hold) == holds
    await assert_books_ok(db)


# --- the monthly cap --------------------------------------------------------------------------


async def test_the_monthly_cap_can_be_reached_exactly_and_not_passed_by_a_cent(db):
    w = await trusted_world(db, per_charge=7000, monthly=14_000)
    assert (await charge(db, w)).what is Happened.CREATED
    assert (await charge(db, w)).what is Happened.CREATED  # 14,000 of 14,000
    await assert_refused(db, ConsentRequired, charge(db, w, ONE_CENT))
    # Consent (the client's QR token) still pays, and is counted.
    token = await issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    paid = await charge(db, w, ONE_CENT, customer=Customer(token=token.token))
    assert paid.what is Happened.CREATED
    await assert_books_ok(db)


async def test_a_charge_one_cent_past_the_monthly_cap_is_refused(db):
    w = await trusted_world(db, per_charge=7000, monthly=13_999)
    assert (await charge(db, w)).what is Happened.CREATED
    await assert_refused(db, ConsentRequired, charge(db, w))  # 14,000 > 13,999
    rest = [ChargeLineInput("siivous", 3, 2333)]  # 6,999: exactly up to the cap
    assert (await charge(db, w, rest)).what is Happened.CREATED
    await assert_refused(db, ConsentRequired, charge(db, w, ONE_CENT))
    await assert_books_ok(db)


async def test_the_whole_monthly_cap_again_from_the_first_second_of_the_month(db):
    """January's cap used up to the cent at 23:59:59; at 00:00:00 the whole cap is there
    again, to the cent and not one more."""
    w = await trusted_world(db, per_charge=14_000, monthly=14_000, period="2031-01")
    month = [ChargeLineInput("siivous", 4, 3500)]  # 14,000
    assert (await charge(db, w, month, now=JAN_LAST_SECOND)).what is Happened.CREATED
    await assert_refused(db, ConsentRequired, charge(db, w, ONE_CENT, now=JAN_LAST_SECOND))
    assert (await charge(db, w, month, now=FEB_FIRST_SECOND)).what is Happened.CREATED
    await assert_refused(db, ConsentRequired, charge(db, w, ONE_CENT, now=FEB_FIRST_SECOND))
    await assert_books_ok(db)


# --- a mandate's last day ------------------------------------------------------------------


async def carer_with_mandate_until(db: Database, w: World, last_day: date) -> uuid.UUID:
    return await add_carer(
        db,
        organizer_id=w.organizer_id,
        client_id=w.client_id,
        scopes=("view", "approve"),
        valid_until=last_day,
    )


# 00:30 on 11 March 2031 in Helsinki is still 10 March in UTC.
JUST_AFTER_MIDNIGHT = datetime(2031, 3, 10, 22, 30, tzinfo=UTC)


async def test_a_mandate_is_in_force_through_its_last_day_in_helsinki(db, monkeypatch):
    w = await seed_world(db)
    monkeypatch.setattr(clock, "source", lambda: JUST_AFTER_MIDNIGHT)
    carer = await carer_with_mandate_until(db, w, date(2031, 3, 11))
    assert await mandate_scopes(db, carer, w.wallet_id) == {"view", "approve"}


async def test_a_mandate_has_ended_the_day_after_its_last_day_in_helsinki(db, monkeypatch):
    """Its last day is still 'today' in UTC, but no longer in Helsinki."""
    w = await seed_world(db)
    monkeypatch.setattr(clock, "source", lambda: JUST_AFTER_MIDNIGHT)
    carer = await carer_with_mandate_until(db, w, date(2031, 3, 10))
    assert await mandate_scopes(db, carer, w.wallet_id) == frozenset()


# --- a payment token's lifetime ---------------------------------------------------------------


@pytest.mark.parametrize("ttl_s", [10, MAX_TTL_S])
async def test_a_token_may_live_from_10_to_120_seconds(db, ttl_s):
    w = await seed_world(db)
    issued = await issue_token(
        db, wallet_id=w.wallet_id, created_by=w.client_principal, ttl_s=ttl_s
    )
    async with UnitOfWork(db, readonly=True) as uow:
        created, expires = (
            await uow.session.execute(
                select(PaymentToken.created_at, PaymentToken.expires_at).where(
                    PaymentToken.wallet_id == w.wallet_id
                )
            )
        ).one()
    assert expires - created == timedelta(seconds=ttl_s)
    assert issued.expires_at == expires


@pytest.mark.parametrize("ttl_s", [9, MAX_TTL_S + 1, 3600])
async def test_a_token_for_longer_than_120_seconds_or_under_10_is_refused(db, ttl_s):
    assert MAX_TTL_S == 120
    w = await seed_world(db)
    with pytest.raises(InvalidInput):
        await issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal, ttl_s=ttl_s)
    assert await count(db, PaymentToken) == 0


# --- refunds: the outbox event, and idempotency keys per provider -----------------------------


async def test_a_refund_writes_its_outbox_event_in_its_transaction(db):
    w = await seed_world(db)
    cid = (await charge(db, w)).body["id"]
    before = await row_counts(db)
    out = await refund_charge(
        db,
        provider_id=w.provider_id,
        charge_id=uuid.UUID(cid),
        amount_cents=2500,
        reason="one hour less",
        idempotency_key="r-1",
        request_hash="r",
    )
    assert out.what is Happened.CREATED
    after = await row_counts(db)
    assert after["outbox"] == before["outbox"] + 1
    async with UnitOfWork(db, readonly=True) as uow:
        event = (
            (await uow.session.execute(select(OutboxEvent).order_by(OutboxEvent.id.desc())))
            .scalars()
            .first()
        )
    assert event is not None
    assert event.type == REFUND_CREATED == "refund.created"
    assert (event.organizer_id, event.wallet_id, event.provider_id) == (
        w.organizer_id,
        w.wallet_id,
        w.provider_id,
    )
    assert event.delivered_at is None
    assert event.payload == out.body
    assert event.payload["charge_id"] == cid and event.payload["amount_cents"] == 2500
    assert event.payload["returned_to"] == "envelope"
    # A replay writes no second event.
    again = await refund_charge(
        db,
        provider_id=w.provider_id,
        charge_id=uuid.UUID(cid),
        amount_cents=2500,
        reason="one hour less",
        idempotency_key="r-1",
        request_hash="r",
    )
    assert again.replayed and (await row_counts(db))["outbox"] == after["outbox"]
    await assert_books_ok(db)


async def test_refund_keys_are_per_provider(db):
    """Provider B's key never replays provider A's refund (that would show B A's customer and
    leave B's own refund undone); A's own retry does replay."""
    w = await seed_world(db)
    await give_price(db, w.other_provider_id, "siivous", 3500)
    a_charge = (await charge(db, w)).body["id"]
    b_charge = (await charge(db, w, provider_id=w.other_provider_id)).body["id"]
    a = await refund(db, w, a_charge, 1000, key="same", request_hash="h", reason=None)
    b = await refund(
        db,
        w,
        b_charge,
        1000,
        key="same",
        request_hash="h",
        reason=None,
        provider_id=w.other_provider_id,
    )
    assert not b.replayed and b.body["id"] != a.body["id"]
    assert b.body["charge_id"] == b_charge and a.body["charge_id"] == a_charge
    assert await count(db, Refund) == 2
    counts = await row_counts(db)
    again = await refund(db, w, a_charge, 1000, key="same", request_hash="h", reason=None)
    assert again.replayed and again.body == a.body
    assert await row_counts(db) == counts
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 2 * 7000 + 2 * 1000
    await assert_books_ok(db)


# --- cards: the right PIN clears the count ----------------------------------------------------


async def test_the_right_pin_clears_the_count_of_wrong_ones(db):
    w = await seed_world(db)
    card = await issue_card(
        db, actor_id=w.case_manager, organizer_id=w.organizer_id, wallet_id=w.wallet_id, pin="2468"
    )

    async def try_pin(pin: str) -> Any:
        return await verify_card(
            db,
            organizer_id=w.organizer_id,
            provider_id=w.provider_id,
            card_number=card.card_number,
            pin=pin,
        )

    for left in (4, 3):
        with pytest.raises(CardInvalid) as wrong:
            await try_pin("1111")
        assert wrong.value.extra["attempts_left"] == left
    assert await try_pin("2468") == w.wallet_id
    with pytest.raises(CardInvalid) as wrong:
        await try_pin("1111")
    assert wrong.value.extra["attempts_left"] == 4
    async with UnitOfWork(db, readonly=True) as uow:
        failed, status = (
            await uow.session.execute(
                select(QrCard.failed_attempts, QrCard.status).where(QrCard.id == card.id)
            )
        ).one()
    assert (failed, status) == (1, "active")


# --- payment tokens of another organizer ----------------------------------------------------


async def test_a_token_or_code_of_another_organizer_is_never_accepted(db):
    """Eksote's client shows their QR (or reads its code) to a Kainuu provider: refused with
    the same ``token-invalid`` as an unknown token, nothing moves, and the token still works
    at home."""
    kainuu = await seed_world(db)
    eksote = await seed_world(db, phone="040 765 4321")
    await trust_provider(db, eksote.wallet_id, eksote.provider_id)
    token = await issue_token(db, wallet_id=eksote.wallet_id, created_by=eksote.client_principal)
    for customer in (Customer(token=token.token), Customer(token_code=token.code)):
        err = await assert_refused(db, TokenInvalid, charge(db, kainuu, customer=customer))
        assert err.slug == "token-invalid"
    unknown = await assert_refused(
        db, TokenInvalid, charge(db, kainuu, customer=Customer(token="hbp_" + "x" * 32))
    )
    assert (unknown.slug, unknown.detail) == (err.slug, err.detail)
    async with UnitOfWork(db, readonly=True) as uow:
        used = (await uow.session.execute(select(PaymentToken.used_at))).scalar_one()
    assert used is None
    home = await charge(db, eksote, customer=Customer(token=token.token))
    assert home.what is Happened.CREATED and home.body["wallet_id"] == str(eksote.wallet_id)
    assert (await envelope(db, kainuu.wallet_id)).balance_cents == 30_000
    await assert_books_ok(db)
